"""A broken server for FRAG-01 (transport.md TRANSPORT-24): the reference whose WebSocket
protocol keeps only the first fragment of a fragmented message.

The relays of this folder cannot break fragmentation: their own WebSocket layer reassembles
what the suite sends before a fault sees it. This is the mutant ``ws_protocol.py
CoalescingWebSocketProtocol.send_receive_event_to_app``: ``if len(self.frames) == 1`` negated,
which survived the power run of seed 20261207, rebuilt as a patch of the reference's protocol
class (tests/conformance/test_fragmented.py applies it with ``monkeypatch``).
"""

from __future__ import annotations

from collections.abc import Callable

from canaux.server.ws_protocol import CoalescingWebSocketProtocol

__all__ = ["first_fragment_only"]


def first_fragment_only() -> Callable[[CoalescingWebSocketProtocol], None]:
    """A ``send_receive_event_to_app`` that drops every continuation frame of a message."""
    original = CoalescingWebSocketProtocol.send_receive_event_to_app

    def handle(self: CoalescingWebSocketProtocol) -> None:
        self.frames = self.frames[:1]
        original(self)

    return handle
