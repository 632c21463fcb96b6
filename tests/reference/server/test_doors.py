"""The front doors drive the sessions object and never touch a session's fields.

One owner of the session lifecycle (STYLE "one owner for each piece of state"): the
WebSocket, SSE, legacy and HTTP doors go through
:class:`~canaux.server.sessions.SessionRegistry` (the asyncio face of the sans-I/O
:class:`~canaux.protocol.sessions.ServerSessions`). Checked in the source, so a door that
starts poking at session state fails here before it can re-grow a second owner.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import canaux.server
from canaux.protocol.limits import Limits
from canaux.protocol.session import SessionState
from canaux.protocol.sessions import ServerSession

SERVER = Path(canaux.server.__file__).parent
DOORS = ["websocket.py", "sse.py", "legacy.py", "http_api.py"]

# Modules whose objects are a session's insides: a door imports neither.
CORE_INSIDES = {"canaux.protocol.session"}
# What a door may take from the decisions module: the types of a decision, not the rules.
DECISION_TYPES = {"Effect", "Outcome", "Permitted"}
# The state a door must never reach into, whatever the object is called.
SESSION_FIELDS = {
    "remember_reply",
    "forget_reply",
    "reply_for",
    "next_event",
    "next_event_json",
    "replay_after",
    "may_resume",
    "detached_at",
}


def _violations(source: Path) -> list[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{source.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module in CORE_INSIDES:
                found.append(f"{where} imports {node.module}")
            if node.module == "canaux.protocol.operations":
                rules = {a.name for a in node.names} - DECISION_TYPES
                if rules:
                    found.append(f"{where} applies rules itself: {sorted(rules)}")
        elif isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name in CORE_INSIDES]
        elif isinstance(node, ast.Attribute):
            owner = node.value
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            mine = isinstance(owner, ast.Name) and owner.id in {"self", "cls"}
            if private and not mine:
                found.append(f"{where} reaches into {ast.unparse(node)}")
            if node.attr in SESSION_FIELDS:
                found.append(f"{where} touches session field {ast.unparse(node)}")
            if node.attr == "subscriptions" and isinstance(
                parents.get(node), ast.Subscript | ast.Attribute
            ):
                # Reading the (read-only) list is fine; indexing or calling into it is not.
                found.append(f"{where} changes session field {ast.unparse(node)}")
            if node.attr == "state" and "session" in ast.unparse(owner):
                found.append(f"{where} touches session state {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and node.id == "SessionState":
            found.append(f"{where} names SessionState")
    return found


@pytest.mark.parametrize("door", DOORS)
def test_a_door_does_not_touch_session_fields(door: str) -> None:
    assert _violations(SERVER / door) == []


def test_the_check_finds_what_the_old_doors_did(tmp_path: Path) -> None:
    """The check can fail: the SSE door of before wrote the subscriptions itself."""
    old = tmp_path / "old_sse.py"
    old.write_text(
        "from canaux.protocol.operations import apply_subscribe\n"
        "from canaux.protocol.session import SessionState\n"
        "def door(session, registry):\n"
        "    session.state.subscriptions['chat'] = None\n"
        "    registry._sessions.clear()\n",
        encoding="utf-8",
    )
    assert _violations(old) == [
        "old_sse.py:1 applies rules itself: ['apply_subscribe']",
        "old_sse.py:2 imports canaux.protocol.session",
        "old_sse.py:4 changes session field session.state.subscriptions",
        "old_sse.py:4 touches session state session.state",
        "old_sse.py:5 reaches into registry._sessions",
    ]


class TestServerSessionIsReadOnly:
    @pytest.mark.parametrize(
        "name", ["id", "identity", "seq", "subscriptions", "carrier", "transport", "detached_at"]
    )
    def test_no_field_can_be_set_from_outside(self, name: str) -> None:
        session = ServerSession(SessionState("tok", Limits()), "ws")
        with pytest.raises(AttributeError):
            setattr(session, name, None)

    def test_the_subscriptions_it_shows_are_a_copy(self) -> None:
        session = ServerSession(SessionState("tok", Limits()), "ws")
        assert isinstance(session.subscriptions, tuple)
