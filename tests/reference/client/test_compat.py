"""The legacy names: CentralWebSocketService, WebSocketService, WS_URL / SSE_URL (§14)."""

from __future__ import annotations

import pytest

from canaux.client import CentralWebSocketService, WebSocketService, resolve_sse_url, resolve_ws_url
from canaux.client.compat import legacy_chat_data


class TestUrls:
    def test_defaults_without_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("WS_URL", raising=False)
        monkeypatch.delenv("SSE_URL", raising=False)
        assert resolve_ws_url() == "ws://localhost:8001/ws"
        assert resolve_sse_url() == "http://localhost:8001/events"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("ws://api:8001", "ws://api:8001/ws"),
            ("ws://api:8001/", "ws://api:8001/ws"),
            ("wss://example.org/canaux/ws", "wss://example.org/canaux/ws"),
            ("ws://api:8001/api/ws", "ws://api:8001/ws"),
            ("ws://api:8001/ws/chat", "ws://api:8001/ws"),
            ("ws://h/canaux/api/ws", "ws://h/canaux/ws"),
        ],
    )
    def test_ws_url_from_environment(
        self, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
    ) -> None:
        monkeypatch.setenv("WS_URL", value)
        assert resolve_ws_url() == expected

    def test_explicit_url_wins_over_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("WS_URL", "ws://env:1")
        monkeypatch.setenv("SSE_URL", "http://env:1/api/events")
        assert resolve_ws_url("ws://given:2") == "ws://given:2/ws"
        assert resolve_sse_url() == "http://env:1/api/events"
        assert resolve_sse_url("http://given:2") == "http://given:2/events"

    def test_service_reads_both_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("WS_URL", "ws://api:8001")
        monkeypatch.setenv("SSE_URL", "http://api:8001/api/events")
        service = CentralWebSocketService()
        assert service.ws_url == "ws://api:8001/ws"
        assert service.sse_url == "http://api:8001/api/events"
        assert service.client.url == "ws://api:8001/ws"
        reader = service.sse_reader(["system"])
        assert reader.url == "http://api:8001/api/events"


class TestLegacyChat:
    def test_flat_message_becomes_typed(self) -> None:
        assert legacy_chat_data({"message": "Hello!"}) == {"type": "message", "text": "Hello!"}
        assert legacy_chat_data({"message": "Hi", "conversation": "c-1"}) == {
            "type": "message",
            "text": "Hi",
            "conversation": "c-1",
        }

    @pytest.mark.parametrize(
        "data", [{"type": "message", "text": "x"}, {"message": 3}, "text", None, [1]]
    )
    def test_other_data_passes_through(self, data: object) -> None:
        assert legacy_chat_data(data) == data


@pytest.mark.anyio
async def test_services_of_one_url_share_one_client() -> None:
    url = "ws://127.0.0.1:9/ws"
    chat = CentralWebSocketService(url)
    legacy = WebSocketService(url)
    other = CentralWebSocketService("ws://127.0.0.1:10/ws")
    alone = CentralWebSocketService(url, shared=False)
    try:
        assert chat.client is legacy.central.client
        assert other.client is not chat.client
        assert alone.client is not chat.client

        def on_chat(data: object) -> None:
            pass

        def on_system(data: object) -> None:
            pass

        chat.register_handler("chat", on_chat)
        legacy.register_handler(on_system)  # the legacy default channel is system
        assert chat.client.channels == {"chat", "system"}
        legacy.unregister_handler(on_system)
        assert chat.client.channels == {"chat"}
    finally:
        await legacy.disconnect()
        # The chat service still uses the connection: it stays.
        assert chat.client.state is None
        await chat.disconnect()
        await other.disconnect()
        await alone.disconnect()
    # Every user left: the next service starts a new connection.
    fresh = CentralWebSocketService(url)
    try:
        assert fresh.client is not chat.client
        with pytest.raises(RuntimeError, match="disconnected"):
            await chat.connect()
    finally:
        await fresh.disconnect()
