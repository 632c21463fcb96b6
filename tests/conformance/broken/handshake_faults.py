"""Broken servers for what happens around a handshake: the resume race and slow requests (#9).

Registered in :data:`tests.conformance.broken.faults.BROKEN_SERVERS` through
:data:`HANDSHAKE_SERVERS`, as (fault, cases that must catch it, the requirement IDs a failure
may cite, the setup of the server behind the relay).
"""

from __future__ import annotations

import contextlib

from .frame_proxy import Conn, Fault, Frame

__all__ = ["HANDSHAKE_SERVERS", "ClosesRaceLoserBeforeWelcome", "NoHandshakeTimeout"]


def _resumed_session(frame: Frame) -> str | None:
    resume = frame.get("resume")
    if frame.get("type") != "hello" or not isinstance(resume, dict):
        return None
    session = resume.get("session")
    return session if isinstance(session, str) else None


class ClosesRaceLoserBeforeWelcome(Fault):
    """The reference without its RESUME-15 branch (``replace()`` interrupting a connection
    whose welcome has not gone out): of two resumes of one session at the same moment, the
    earlier connection is closed with 4411 before its welcome.

    The relay sees both hellos: when a resume hello names a session another connection has
    asked to resume and not yet been welcomed for, it closes that other connection with 4411
    itself and drops what the server later sends it (its welcome among them)."""

    name = "closes-race-loser-before-welcome"
    description = (
        "of two resumes of one session at the same moment, the loser is closed with 4411 "
        "before its welcome went out"
    )

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        session = _resumed_session(frame)
        if session is not None:
            for other in list(conn.proxy.connections):
                waiting = other.state.get("resuming") == session and not other.state.get("cut")
                if other is not conn and waiting:
                    other.state["cut"] = True
                    with contextlib.suppress(Exception):
                        await other.client.close(code=4411, reason="session resumed elsewhere")
            conn.state["resuming"] = session
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if conn.state.get("cut"):
            return []
        if frame.get("type") == "welcome":
            conn.state.pop("resuming", None)
        return [frame]

    async def server_closed(self, conn: Conn, code: int, reason: str) -> bool:
        return not conn.state.get("cut")


class NoHandshakeTimeout(Fault):
    """A server with no bound on how long a request head (or body) may take [SECURITY-13]:
    the relay serves its HTTP without the admission bounds the transparent relay uses, as plain
    uvicorn does (it has no header timeout), so a slowloris is held for as long as it lasts."""

    name = "no-handshake-timeout"
    description = "a request head or body sent a byte at a time is never cut off"
    handshake_timeout_s = None


HANDSHAKE_SERVERS: tuple[tuple[type[Fault], tuple[str, ...], tuple[str, ...], str], ...] = (
    (ClosesRaceLoserBeforeWelcome, ("RACE-01",), ("RESUME-15",), "open"),
    (NoHandshakeTimeout, ("SLOWREQ-01",), ("SECURITY-13",), "open"),
)
