"""ChatUI: questions to the backend's agent, replies streamed in (seed note: ``chat``).

As in the note, the component owns a ``CentralWebSocketService`` and registers its handler on
``chat``; ``send('chat', {'message': …})`` is the note's call (the old flat form). The server
streams the reply to the asking session only, as ``chunk`` events then ``done`` (CHAT-1), each
naming the request it answers (CHAT-3). Every page of this frontend shares one session, so a
ChatUI keeps the replies to its own requests and leaves the others'.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from nicegui import ui

from canaux.client import CentralWebSocketService, ClientError, PublishRejected

__all__ = ["ChatUI"]

_EARLY_LIMIT = 64
"""Requests whose events are kept while their ``send`` has not returned (others' included)."""


class _Reply:
    """One reply bubble: its text grows chunk by chunk; ``data-state`` says where it is."""

    def __init__(self) -> None:
        self.label = ui.label("…").classes("bg-blue-50 rounded p-2 whitespace-pre-wrap")
        self.label.props('data-testid="chat-reply" data-state="waiting" data-chunks="0"')
        self.text = ""
        self.chunks = 0
        self.finished = False

    def apply(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "chunk":
            self.text += str(data.get("text", ""))
            self.chunks += 1
            self.label.set_text(self.text)
            self.label.props(f'data-state="streaming" data-chunks="{self.chunks}"')
        elif kind == "done":
            self.finished = True
            self.label.props('data-state="done"')
        elif kind == "error":
            self.fail(f"{data.get('code')}: {data.get('message')}")

    def fail(self, message: str) -> None:
        self.finished = True
        self.label.set_text(f"{self.text} [{message}]".strip())
        self.label.props('data-state="error"')


class ChatUI:
    """A chat box: type a question, watch the answer stream in."""

    def __init__(self) -> None:
        self.websocket_service = CentralWebSocketService()
        self.websocket_service.register_handler("chat", self._on_chat)
        self._replies: dict[str, _Reply] = {}
        self._early: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        with ui.card().classes("w-full").props('data-testid="chat"'):
            ui.label("Chat").classes("text-h6")
            self._log = ui.column().classes("w-full")
            with ui.row().classes("w-full items-center"):
                self._input = ui.input(placeholder="Ask about your library").classes("grow")
                self._input.props('data-testid="chat-input"')
                self._input.on("keydown.enter", self.send_message)
                ui.button("Send", on_click=self.send_message).props('data-testid="chat-send"')

    async def send_message(self) -> None:
        text = str(self._input.value or "").strip()
        if not text:
            return
        self._input.set_value("")
        with self._log:
            ui.label(text).classes("self-end bg-grey-2 rounded p-2").props(
                'data-testid="chat-question"'
            )
            reply = _Reply()
        try:
            request = await self.websocket_service.send("chat", {"message": text})
        except (PublishRejected, ClientError) as exc:
            reply.fail(str(exc))
            return
        self._replies[request] = reply
        for data in self._early.pop(request, []):
            self._deliver(request, data)

    def _on_chat(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("request"), str):
            return
        request = data["request"]
        if request in self._replies:
            self._deliver(request, data)
            return
        # The reply may start before send() has returned its id; it may also be another
        # page's reply (same session). Keep a bounded few until it is known to be ours.
        self._early.setdefault(request, []).append(data)
        self._early.move_to_end(request)
        while len(self._early) > _EARLY_LIMIT:
            self._early.popitem(last=False)

    def _deliver(self, request: str, data: dict[str, Any]) -> None:
        reply = self._replies[request]
        reply.apply(data)
        if reply.finished:
            del self._replies[request]

    async def close(self) -> None:
        """The page is gone: drop this component's handlers (the connection stays)."""
        await self.websocket_service.disconnect()
