"""Broken servers for the slow-consumer requirements (limits.md LIMIT-4, LIMIT-13,
transport.md TRANSPORT-23; #9).

Registered in :data:`SLOW_SERVERS` as (fault, cases that must catch it, the requirement IDs a
failure may cite, the setup of the server behind the relay, one of ``gap_faults.SETUPS``);
``faults.BROKEN_SERVERS`` takes them in.
"""

from __future__ import annotations

from .frame_proxy import Conn, Fault, Frame

__all__ = ["SHOULD_SERVERS", "SLOW_SERVERS"]


class NeverCutsSlowReaders(Fault):
    name = "never-cuts-slow-readers"
    description = (
        "frames toward a client wait in an unbounded queue of the relay's: the server behind is "
        "read on, so a reader that stops reading is never closed with 4503 (LIMIT-4)"
    )
    backpressure = False


class KeepsClosedSlowReadersOpen(Fault):
    """The mutant ``websocket.py WebSocketLink._interrupt``: ``is not None`` -> ``is`` (and
    ``ServerConnection.send_event_text``: ``return True`` -> ``False``): after deciding 4503, a
    writer stuck behind a client that does not read is never cancelled, so the connection
    ends only once the client reads again [TRANSPORT-23]."""

    name = "keeps-closed-slow-readers-open"
    description = (
        "a connection the server closed stays open toward a client that does not read: the "
        "relay waits for ever to pass on what it holds, so a reader that never reads again "
        "keeps its socket (TRANSPORT-23: ended within 15 s)"
    )
    ends_with_the_server = False


class RefusesTheNewestDetached(Fault):
    name = "refuses-the-newest-detached"
    description = (
        "a resume of the session detached last gets a new session (resumed: false), as if the "
        "bound on detached sessions in all refused the newcomer instead of discarding the one "
        "detached longest ago (LIMIT-13)"
    )

    def __init__(self) -> None:
        self.created: list[str] = []
        """Sessions the server opened anew, oldest first."""

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome" and frame.get("resumed") is False:
            self.created.append(str(frame.get("session")))
        return [frame]

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume")
        if frame.get("type") == "hello" and isinstance(resume, dict):
            attached = {c.session for c in conn.proxy.connections if c is not conn}
            detached = [s for s in self.created if s not in attached]
            if detached and resume.get("session") == detached[-1]:
                del frame["resume"]
        return [frame]


SLOW_SERVERS: tuple[tuple[type[Fault], tuple[str, ...], tuple[str, ...], str], ...] = (
    (NeverCutsSlowReaders, ("SLOW-01", "SLOW-02"), ("LIMIT-4", "LEGACY-8"), "open"),
    (KeepsClosedSlowReadersOpen, ("SLOW-01", "SLOW-02"), ("TRANSPORT-23",), "open"),
    (RefusesTheNewestDetached, ("DETACH-01",), ("LIMIT-13",), "detached-total"),
)


class DropsSlowReadersAtOnce(Fault):
    name = "drops-slow-readers-at-once"
    description = (
        "a client that has not taken a frame for 0.1 s is reset at once: no 4503 close frame "
        "is ever written after the bytes it did not read (LIMIT-15 SHOULD wait 2 s)"
    )
    drop_stalled_after = 0.1


SHOULD_SERVERS: tuple[tuple[type[Fault], tuple[str, ...], tuple[str, ...], str], ...] = (
    (DropsSlowReadersAtOnce, ("SLOW-01",), ("LIMIT-15",), "open"),
)
"""Faults that break a SHOULD: the case catches them as ``non-strict``, not ``fail``
(tests/conformance/test_slow_consumer.py)."""
