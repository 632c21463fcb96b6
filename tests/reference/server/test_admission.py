"""The admitted WebSocket protocol's instance dictionaries stay shared in a burst of openings
(issue #14): CPython's key table of the class holds the names set after ``__init__``."""

from __future__ import annotations

import platform
import sys
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from canaux.server.admission import _LATER_NAMES, admission_ws_protocol
from canaux.server.ws_protocol import CoalescingWebSocketProtocol

pytestmark = pytest.mark.anyio


class _Admission:
    def turn(self, protocol: object, loop: object) -> bool:  # pragma: no cover - never called
        return True


async def _app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never run
    pass


@pytest.mark.skipif(platform.python_implementation() != "CPython", reason="CPython's dicts")
async def test_a_burst_of_connections_keeps_shared_instance_dictionaries() -> None:
    config = uvicorn.Config(_app)
    config.load()
    protocol: Any = admission_ws_protocol(_Admission(), CoalescingWebSocketProtocol)  # type: ignore[arg-type]
    state = ServerState()
    # asyncio makes a burst's protocols before any of them runs connection_made.
    burst = [protocol(config, state, {}) for _ in range(200)]
    for one in burst:
        for name in _LATER_NAMES:
            setattr(one, name, None)
        del one.request, one.response  # as ws_protocol does once accepted
    last = vars(burst[-1])
    # A dictionary sharing its class's keys is smaller than a private copy of itself.
    assert sys.getsizeof(last) < sys.getsizeof(dict(last))
