"""An in-memory client/server pair built from the sans-I/O cores only
(spec operations.md, delivery.md, resume.md).

:class:`MiniServer` is the smallest server layer the core allows: a door over
:class:`~canaux.protocol.sessions.ServerSessions` and a hub, with every protocol decision
(the session lifecycle included) left to :mod:`canaux.protocol`. Frames move between the
client core and the server core as strings; a "drop" loses whatever was in flight.
"""

from __future__ import annotations

from typing import Any

import pytest

from canaux.protocol.channels import Catalogue
from canaux.protocol.client import Acked, ClientConnection, EventReceived, Reset, Welcomed
from canaux.protocol.codes import CloseCode
from canaux.protocol.frames import dumps
from canaux.protocol.limits import Limits
from canaux.protocol.operations import Effect
from canaux.protocol.server import (
    HelloReceived,
    PublishRequested,
    ServerConnection,
    SubscribeRequested,
    UnsubscribeRequested,
)
from canaux.protocol.sessions import ServerSession, ServerSessions


class Carrier:
    """What carries a session for the core: one server connection (the door's job)."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn

    def send_event(self, channel: str, seq: int, text: str) -> None:
        self.conn.send_event_text(text)

    def replace(self) -> None:
        self.conn.close(CloseCode.SESSION_REPLACED, "session resumed elsewhere")  # [RESUME-4]


class MiniServer:
    """A door over :class:`ServerSessions`: it pumps events in and applies the effects."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.catalogue = Catalogue.standard(conformance=True)
        self.sessions: ServerSessions[Carrier] = ServerSessions(self.limits)
        self.carriers: dict[ServerConnection, Carrier] = {}
        self.session_of: dict[ServerConnection, ServerSession] = {}
        self.hub: dict[str, set[ServerSession]] = {}
        self.delivered = 0

    def connect(self, now: float) -> ServerConnection:
        conn = ServerConnection(self.limits, now)
        self.carriers[conn] = Carrier(conn)
        return conn

    def handle(self, conn: ServerConnection, now: float) -> None:
        sessions = self.sessions
        for event in conn.events_received():
            if isinstance(event, HelloReceived):
                opened = sessions.open(event.identity, event.hello.resume, now)
                sessions.welcome(conn, opened, self.catalogue, now)
                self.session_of[conn] = opened.session
                previous = sessions.attach(opened.session, self.carriers[conn], now)
                if previous is not None:
                    previous.replace()
                continue
            session = self.session_of[conn]
            if isinstance(event, SubscribeRequested):
                outcome = sessions.decide_subscribe(session, self.catalogue, event.frame)
                if outcome.effect is Effect.SUBSCRIBE:
                    self.hub.setdefault(event.frame.channel, set()).add(session)
            elif isinstance(event, UnsubscribeRequested):
                outcome = sessions.decide_unsubscribe(session, event.frame)
                if outcome.effect is Effect.UNSUBSCRIBE:
                    self.hub[event.frame.channel].discard(session)
            elif isinstance(event, PublishRequested):
                outcome = sessions.decide_publish(session, self.catalogue, event.frame)
                if outcome.effect is Effect.PUBLISH:
                    self.deliver(event.frame.channel, event.frame.data, now)
            else:
                continue
            conn.reply(sessions.commit(session, outcome), now)

    def deliver(self, channel: str, data: Any, now: float) -> None:
        del now
        self.delivered += 1
        data_json = dumps(data)  # encoded once for every receiver
        for session in sorted(self.hub.get(channel, ()), key=lambda s: s.id):
            session.deliver(channel, data_json)

    def lost(self, conn: ServerConnection, now: float) -> None:
        """The socket of ``conn`` is gone: the core detaches its session [RESUME-10]."""
        conn.connection_lost(now)
        session = self.session_of.get(conn)
        if session is not None:
            self.sessions.detach(session, self.carriers[conn], now)
        self._drop_discarded()

    def expire(self, now: float) -> None:
        """[RESUME-7] discard the sessions detached longer than the window."""
        self.sessions.expire(now)
        self._drop_discarded()

    def _drop_discarded(self) -> None:
        for session in self.sessions.take_discarded():
            for subscribers in self.hub.values():
                subscribers.discard(session)


def exchange(
    client: ClientConnection, conn: ServerConnection, server: MiniServer, now: float = 0.0
) -> None:
    """Carry frames both ways until neither side has anything to say."""
    while True:
        upward = client.data_to_send()
        for text in upward:
            conn.receive_text(text, now)
        server.handle(conn, now)
        downward = conn.data_to_send()
        for text in downward:
            client.receive_text(text, now)
        if not upward and not downward:
            return


def connected(server: MiniServer, client: ClientConnection, now: float = 0.0) -> ServerConnection:
    conn = server.connect(now)
    client.connection_made(now)
    exchange(client, conn, server, now)
    return conn


class TestPair:
    def test_client_subscribes_publishes_and_receives_its_own_event(self) -> None:
        """[OPS-1] [OPS-7] [CONF-1]"""
        server, client = MiniServer(), ClientConnection()
        conn = connected(server, client)
        client.subscribe("conformance.demo")
        client.publish("conformance.demo", {"mark": "m-1"})
        exchange(client, conn, server)
        events = client.events_received()
        assert isinstance(events[0], Welcomed)
        assert sum(isinstance(e, Acked) for e in events) == 2
        (event,) = [e for e in events if isinstance(e, EventReceived)]
        assert (event.channel, event.data, event.seq) == ("conformance.demo", {"mark": "m-1"}, 1)

    def test_drop_and_resume_replays_missed_events_and_applies_a_resent_publish_once(
        self,
    ) -> None:
        """[RESUME-2] [RESUME-3] [RESUME-6] [OPS-9] [DELIVERY-1] no gap, no duplicate."""
        server = MiniServer()
        reader, writer = ClientConnection(id_prefix="r"), ClientConnection(id_prefix="w")
        reader_conn, writer_conn = connected(server, reader), connected(server, writer)
        reader.subscribe("conformance.demo")
        exchange(reader, reader_conn, server)
        for n in range(3):
            writer.publish("conformance.demo", {"mark": f"a{n}"})
        exchange(writer, writer_conn, server)
        # Two events reach the reader; the third is lost with the socket.
        texts = reader_conn.data_to_send()
        for text in texts[:2]:
            reader.receive_text(text, 0.0)
        reader.publish("conformance.demo", {"mark": "from-reader"})
        for text in reader.data_to_send():  # the publish arrives, its ack is lost
            reader_conn.receive_text(text, 0.0)
        server.handle(reader_conn, 0.0)
        reader_conn.data_to_send()
        server.lost(reader_conn, 1.0)
        reader.connection_lost()
        writer.publish("conformance.demo", {"mark": "while-away"})
        exchange(writer, writer_conn, server)

        reader_conn = server.connect(2.0)
        reader.connection_made(2.0)
        exchange(reader, reader_conn, server)

        events = reader.events_received()
        welcomed = [e for e in events if isinstance(e, Welcomed)]
        assert welcomed[-1].resumed
        assert not any(isinstance(e, Reset) for e in events)
        received = [e for e in events if isinstance(e, EventReceived)]
        assert [e.seq for e in received] == [1, 2, 3, 4, 5]
        assert [e.data["mark"] for e in received] == ["a0", "a1", "a2", "from-reader", "while-away"]
        assert server.delivered == 5  # the re-sent publish was not delivered again
        assert reader.pending == {}

    def test_resume_with_another_token_gets_a_fresh_session(self) -> None:
        """[SECURITY-2] [RESUME-5]"""
        server = MiniServer()
        client = ClientConnection(token="alice")
        conn = connected(server, client)
        first = client.session
        server.lost(conn, 1.0)
        client.connection_lost()
        client.token = "mallory"
        conn = connected(server, client)
        events = client.events_received()
        assert any(isinstance(e, Reset) for e in events)
        assert client.session != first
        assert first is not None
        kept = server.sessions.get(first)
        assert kept is not None
        assert (kept.carrier, kept.detached_at) == (None, 1.0)  # untouched [RESUME-12]

    def test_resuming_an_attached_session_closes_the_old_connection_with_4411(self) -> None:
        """[RESUME-4]"""
        server = MiniServer()
        client = ClientConnection()
        old = connected(server, client)
        client.connection_lost()  # the client gave up on a socket the server still holds
        new = connected(server, client)
        assert old.close_code == CloseCode.SESSION_REPLACED
        assert new.session is old.session

    def test_a_refused_resume_after_a_takeover_leaves_the_live_session_alone(self) -> None:
        """[RESUME-4] [RESUME-12] [RESUME-7] the replaced connection ending does not detach
        the session, so a refused resume long after the window does not discard it."""
        limits = Limits(resume_window_ms=1000)
        server = MiniServer(limits)
        first, second = ClientConnection(token="alice"), ClientConnection(token="alice")
        old = connected(server, first)
        first.subscribe("conformance.demo")
        exchange(first, old, server)
        assert first.session is not None
        # B takes the session over while A's socket is still open [RESUME-4].
        second.session, second.last_seq = first.session, first.last_seq
        new = connected(server, second)
        assert old.close_code == CloseCode.SESSION_REPLACED
        server.lost(old, 1.0)  # A's socket ends after the takeover
        live = server.sessions.get(first.session)
        assert live is not None
        assert (live.carrier, live.detached_at) == (server.carriers[new], None)  # [RESUME-4]
        server.expire(3.5)  # 2.5 s later: past the window, were the session detached
        intruder = ClientConnection(token="mallory")
        intruder.session, intruder.last_seq = first.session, 0
        connected(server, intruder, 3.5)
        assert intruder.session != first.session  # refused: a fresh session [RESUME-2]
        assert server.sessions.get(first.session) is live  # not discarded [RESUME-12]
        server.deliver("conformance.demo", {"mark": "still-live"}, 4.0)
        exchange(second, new, server, 4.0)
        received = [e for e in second.events_received() if isinstance(e, EventReceived)]
        assert [e.data["mark"] for e in received] == ["still-live"]


@pytest.mark.parametrize("buffer", [1, 2])
def test_resume_after_the_buffer_overflowed_is_refused(buffer: int) -> None:
    """[LIMIT-5] [RESUME-2] never a partial replay: a fresh session instead."""
    server = MiniServer(Limits(resume_buffer=buffer, dedup_ids=buffer))
    reader, writer = ClientConnection(id_prefix="r"), ClientConnection(id_prefix="w")
    reader_conn, writer_conn = connected(server, reader), connected(server, writer)
    reader.subscribe("conformance.demo")
    exchange(reader, reader_conn, server)
    server.lost(reader_conn, 1.0)
    reader.connection_lost()
    for n in range(buffer + 1):
        writer.publish("conformance.demo", {"mark": f"m{n}"})
    exchange(writer, writer_conn, server)
    connected(server, reader)
    events = reader.events_received()
    assert any(isinstance(e, Reset) for e in events)
    assert not [e for e in events if isinstance(e, EventReceived)]
