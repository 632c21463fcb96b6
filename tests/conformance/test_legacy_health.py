"""LEG-HEALTH-01 against the reference and against its broken twin (http-publish.md HTTP-5).

The broken server keeps a closed legacy connection in ``GET /health``'s ``connections``
(broken/legacy_faults.py): LEG-HEALTH-01 must fail it citing HTTP-5, and pass the reference.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from canaux.server.config import ServerConfig
from canaux.server.legacy import LegacyLink
from canaux.server.testing import running_server
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

if TYPE_CHECKING:
    from tests.conformance.broken.legacy_faults import never_forgets_legacy_links
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.legacy_faults import never_forgets_legacy_links


async def _leg_health_01() -> tuple[Verdict, str | None, str]:
    async with running_server(ServerConfig(conformance=True)) as server:
        base = f"127.0.0.1:{server.port}"
        result = await run(
            RunConfig(
                url=f"ws://{base}/ws",
                publish_url=f"http://{base}/publish",
                only=("LEG-HEALTH-01",),
                budget="quick",
                seed=20261208,
                timeout=3.0,
            )
        )
    (outcome,) = result.results
    return outcome.verdict, outcome.requirement, outcome.message


def test_the_reference_stops_counting_a_closed_legacy_socket() -> None:
    verdict, _, message = asyncio.run(_leg_health_01())
    assert verdict is Verdict.PASS, message


def test_a_server_that_keeps_counting_closed_legacy_sockets_fails_citing_http_5(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(LegacyLink, "run", never_forgets_legacy_links())
    verdict, requirement, message = asyncio.run(_leg_health_01())
    assert verdict is Verdict.FAIL, message
    assert requirement == "HTTP-5", message
