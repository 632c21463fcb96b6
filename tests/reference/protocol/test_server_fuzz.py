"""Whatever a client sends, the server core never raises and only sends valid server frames.

Inputs are drawn from schemas/frame.json (client frames, valid and not), arbitrary JSON,
non-JSON text, binary frames and the passing of time; a minimal server layer answers the
events. Every frame the core emits is checked with ``jsonschema`` against
``$defs/server_frame`` [TRANSPORT-3], and the session's events keep their seq order
[DELIVERY-1].
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import canaux_schemas
from canaux.protocol.channels import Catalogue
from canaux.protocol.limits import Limits
from canaux.protocol.operations import (
    Effect,
    commit,
    decide_publish,
    decide_subscribe,
    decide_unsubscribe,
)
from canaux.protocol.server import (
    CLOSED,
    HelloReceived,
    PublishRequested,
    ServerConnection,
    SubscribeRequested,
    UnsubscribeRequested,
)
from canaux.protocol.session import SessionState

FRAME = canaux_schemas.load("frame.json")
SERVER_FRAME = jsonschema.Draft202012Validator(
    {"$defs": FRAME["$defs"], "$ref": "#/$defs/server_frame"}
)
CLIENT_FRAMES = from_schema({"$defs": FRAME["$defs"], "$ref": "#/$defs/client_frame"})
CATALOGUE = Catalogue.standard(conformance=True)
LIMITS = Limits(max_frame_bytes=4096, max_rate=10, outbound_queue=16)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
likely_frames = st.sampled_from(
    [
        {"type": "hello", "version": 1},
        {"type": "subscribe", "id": "s1", "channel": "conformance.a"},
        {"type": "publish", "id": "p1", "channel": "conformance.a", "data": {"mark": "m"}},
        {"type": "publish", "id": "p2", "channel": "system", "data": {}},
        {"type": "unsubscribe", "id": "u1", "channel": "conformance.a"},
        {"type": "ping", "nonce": "n"},
    ]
)
actions = st.one_of(
    st.tuples(st.just("frame"), likely_frames),
    st.tuples(st.just("frame"), CLIENT_FRAMES),
    st.tuples(st.just("frame"), json_values),
    st.tuples(st.just("text"), st.text(max_size=20)),
    st.tuples(st.just("bytes"), st.binary(max_size=4)),
    st.tuples(st.just("wait"), st.floats(min_value=0.0, max_value=40.0)),
)


def serve(conn: ServerConnection, session: SessionState | None, now: float) -> SessionState | None:
    """The smallest server layer: a fresh session per hello, conformance.* pub/sub to itself."""
    for event in conn.events_received():
        if isinstance(event, HelloReceived):
            session = SessionState(event.identity, LIMITS)
            conn.welcome(session, False, CATALOGUE, now)
            continue
        assert session is not None
        if isinstance(event, SubscribeRequested):
            outcome = decide_subscribe(session, CATALOGUE, event.frame)
        elif isinstance(event, UnsubscribeRequested):
            outcome = decide_unsubscribe(session, event.frame)
        elif isinstance(event, PublishRequested):
            outcome = decide_publish(session, CATALOGUE, event.frame)
            if outcome.effect is Effect.PUBLISH and event.frame.channel in session.subscriptions:
                _, text = session.next_event(event.frame.channel, event.frame.data)
                conn.send_event_text(text, now)
        else:
            continue
        conn.reply(commit(session, outcome), now)
    return session


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, max_size=25))
def test_core_never_raises_and_sends_only_valid_server_frames(steps: list[Any]) -> None:
    now = 0.0
    conn = ServerConnection(LIMITS, now)
    session: SessionState | None = None
    sent: list[dict[str, Any]] = []
    for kind, value in [("frame", {"type": "hello", "version": 1}), *steps]:
        note(f"{kind}: {value!r}")
        if kind == "wait":
            now += value
            conn.tick(now)
        elif kind == "bytes":
            conn.receive_bytes(value, now)
        else:
            text = value if kind == "text" else json.dumps(value)
            conn.receive_text(text, now)
        session = serve(conn, session, now)
        sent.extend(json.loads(text) for text in conn.data_to_send())
        if conn.state is CLOSED:
            assert conn.close_code is not None
            break
    for frame in sent:
        assert SERVER_FRAME.is_valid(frame), frame
    if sent:
        assert sent[0]["type"] == "welcome"  # [HANDSHAKE-2]
    seqs = [frame["seq"] for frame in sent if frame["type"] == "event"]
    assert seqs == list(range(1, len(seqs) + 1))  # [DELIVERY-1]
