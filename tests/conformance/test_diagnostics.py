"""Diagnostics that tell the truth, against real reference servers (issue 9, item 6).

Each test sets up the situation in which the suite used to say something false, and checks
what it says now: a run that could not check the core profile is "incomplete" (not
"conformant"); a profile asked for whose endpoint does not answer too; a 12 s hello timeout is
a SHOULD broken, which ``--strict`` turns into a failure.
"""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Receive, Scope, Send

from canaux.protocol.limits import Limits
from canaux.server.app import create_app
from canaux.server.config import ServerConfig
from canaux.server.testing import running_server, serve_app
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

pytestmark = pytest.mark.slow

SEED = 20261201


def test_without_the_conformance_family_the_verdict_is_incomplete() -> None:
    """With conformance.* off the core checks cannot run: exit 2 "incomplete", never
    "conformant · exit 0" (it said so while 36 core cases were skipped)."""

    async def main() -> None:
        async with running_server(ServerConfig(conformance=False)) as server:
            result = await run(
                RunConfig(
                    url=server.ws_url, only=("ROUTE-*", "HS-01", "HS-03"), budget="quick", seed=SEED
                )
            )
        assert {r.verdict for r in result.results if r.id.startswith("ROUTE")} == {Verdict.SKIPPED}
        assert result.exit_status == 2
        assert "core" in result.incomplete_profiles()
        assert result.verdict_text().startswith("incomplete: profile core:")

    asyncio.run(main())


def test_a_profile_asked_for_whose_endpoint_does_not_answer_is_incomplete() -> None:
    """--profile legacy against a server without legacy endpoints: every legacy case is
    skipped; that is not a conformant legacy profile."""

    config = ServerConfig(conformance=True)
    app = create_app(config)

    async def without_legacy(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] in ("/ws/chat", "/api/ws"):
            await send({"type": "websocket.close", "code": 1000})  # refused: HTTP 403
            return
        await app(scope, receive, send)

    async def main() -> None:
        async with serve_app(without_legacy, app, config) as server:  # type: ignore[arg-type]
            result = await run(
                RunConfig(
                    url=server.ws_url,
                    profiles=("core", "legacy"),
                    only=("LEG-04", "LEG-05"),
                    budget="quick",
                    seed=SEED,
                )
            )
        assert {r.verdict for r in result.results} == {Verdict.SKIPPED}
        assert result.exit_status == 2
        assert "legacy" in result.incomplete_profiles()

    asyncio.run(main())


def test_a_hello_timeout_of_12_s_is_non_strict_and_fails_under_strict() -> None:
    """HANDSHAKE-12: the hello timeout SHOULD NOT exceed 10 s; HS-06 used to accept 12 s."""

    async def main() -> None:
        config = ServerConfig(conformance=True, limits=Limits(hello_timeout_ms=12000))
        async with running_server(config) as server:
            result = await run(
                RunConfig(url=server.ws_url, only=("HS-06",), budget="quick", strict=True)
            )
        (hs_06,) = result.results
        assert hs_06.verdict is Verdict.NON_STRICT, hs_06.message
        assert hs_06.requirement == "HANDSHAKE-12"
        assert result.exit_status == 1

    asyncio.run(main())
