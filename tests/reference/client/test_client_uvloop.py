"""The client's heartbeat tests again on uvloop ([#10] finding 6: heartbeats on every loop).

uvloop's clock is libuv's (milliseconds, cached per loop iteration): timers may fire a little
before a deadline read on another clock. The client reads the loop's own clock for its core,
so its deadlines hold on both loops; these are the scripted-server heartbeat tests of
test_client_scripted.py, collected here a second time with the uvloop backend.
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_client_scripted import (
    test_listening_client_keeps_the_link_alive_heartbeat_3,
    test_ping_is_answered_with_pong_heartbeat_2,
    test_silent_server_is_dropped_and_resumed_heartbeat_4,
)

pytestmark = pytest.mark.anyio

__all__ = [
    "test_listening_client_keeps_the_link_alive_heartbeat_3",
    "test_ping_is_answered_with_pong_heartbeat_2",
    "test_silent_server_is_dropped_and_resumed_heartbeat_4",
]


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": True})
