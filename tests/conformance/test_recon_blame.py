"""RECON-07 names the requirement a server breaks when a refused impostor costs the rightful
client its session: RESUME-12 (a refused request leaves the session unchanged), not
SECURITY-2, which the refusal itself satisfied (issue 9, "Diagnostics that mislead")."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from canaux.protocol.limits import Limits
from canaux.server.config import ServerConfig
from canaux.server.testing import running_server
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

if TYPE_CHECKING:
    from tests.conformance.broken.frame_proxy import Conn, Fault, Frame, FrameProxy
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.frame_proxy import Conn, Fault, Frame, FrameProxy

pytestmark = pytest.mark.slow

IMPOSTOR = "impostor-token"


class ImpostorDiscardsTheSession(Fault):
    """After a resume under another identity (refused, as it must be), the session is gone: the
    rightful resume that follows is turned into a fresh hello."""

    name = "impostor-discards-session"
    description = "a refused resume by another identity discards the session (RESUME-12)"

    def __init__(self) -> None:
        self.poisoned: set[str] = set()

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume") if frame.get("type") == "hello" else None
        if isinstance(resume, dict):
            session = str(resume.get("session"))
            if frame.get("token") == IMPOSTOR:
                self.poisoned.add(session)
            elif session in self.poisoned:
                return [{k: v for k, v in frame.items() if k != "resume"}]
        return [frame]


def test_recon_07_blames_resume_12_when_the_refused_impostor_cost_the_session() -> None:
    async def main() -> None:
        config = ServerConfig(conformance=True, limits=Limits(resume_window_ms=5000))
        async with (
            running_server(config) as server,
            FrameProxy("127.0.0.1", server.port, ImpostorDiscardsTheSession()) as relay,
        ):
            result = await run(
                RunConfig(
                    url=relay.ws_url, other_token=IMPOSTOR, only=("RECON-07",), budget="quick"
                )
            )
        (recon_07,) = result.results
        assert recon_07.verdict is Verdict.FAIL, recon_07.message
        assert recon_07.requirement == "RESUME-12", recon_07.message
        assert "resume_window_ms 5000" in recon_07.message

    asyncio.run(main())
