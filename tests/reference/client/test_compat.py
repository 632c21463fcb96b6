"""The legacy names: CentralWebSocketService, WebSocketService, WS_URL / SSE_URL (legacy.md)."""

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


class TestMountPath:
    """[#11] The note's WS_URL is a base (ws://api:8001); a mounted server adds its prefix."""

    @pytest.mark.parametrize(
        ("ws", "mount", "expected"),
        [
            ("ws://api:8001", "/canaux", "ws://api:8001/canaux/ws"),
            ("ws://api:8001/", "canaux/", "ws://api:8001/canaux/ws"),
            ("ws://api:8001/ws", "/canaux", "ws://api:8001/canaux/ws"),
            ("ws://api:8001/api/ws", "/canaux", "ws://api:8001/canaux/ws"),
            ("ws://api:8001/canaux", "/canaux", "ws://api:8001/canaux/ws"),
            ("ws://api:8001/canaux/ws", "/canaux", "ws://api:8001/canaux/ws"),
            ("ws://api:8001/realtime", "/canaux", "ws://api:8001/realtime"),
        ],
    )
    def test_ws_url_under_a_mount_path(self, ws: str, mount: str, expected: str) -> None:
        assert resolve_ws_url(ws, mount) == expected

    @pytest.mark.parametrize(
        ("sse", "mount", "expected"),
        [
            ("http://api:8001/api/events", "/canaux", "http://api:8001/canaux/events"),
            ("http://api:8001", "/canaux", "http://api:8001/canaux/events"),
            ("http://api:8001/api/events", "", "http://api:8001/api/events"),
            ("http://api:8001/stream", "/canaux", "http://api:8001/stream"),
        ],
    )
    def test_sse_url_under_a_mount_path(self, sse: str, mount: str, expected: str) -> None:
        assert resolve_sse_url(sse, mount) == expected

    def test_mount_path_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("WS_URL", "ws://api:8001")
        monkeypatch.setenv("SSE_URL", "http://api:8001/api/events")
        monkeypatch.setenv("CANAUX_MOUNT_PATH", "/canaux")
        service = CentralWebSocketService(shared=False)
        assert service.ws_url == "ws://api:8001/canaux/ws"
        assert service.sse_url == "http://api:8001/canaux/events"
        assert CentralWebSocketService(shared=False, mount_path="").ws_url == "ws://api:8001/ws"


class TestRegisterHandlerOrder:
    """[#11] One order, register_handler(channel, fn), on both services; the old call works."""

    @staticmethod
    def handler(data: object) -> None:
        pass

    @pytest.mark.parametrize(
        ("args", "kwargs", "channel"),
        [
            (("progress", handler), {}, "progress"),
            ((handler,), {}, "system"),
            ((handler,), {"channel": "progress"}, "progress"),
            ((handler, "progress"), {}, "progress"),
            ((), {"fn": handler, "channel": "chat"}, "chat"),
        ],
    )
    def test_both_orders_register_the_same_handler(
        self, args: tuple[object, ...], kwargs: dict[str, object], channel: str
    ) -> None:
        service = WebSocketService("ws://127.0.0.1:9/ws", shared=False)
        service.register_handler(*args, **kwargs)
        assert service.central.client.channels == {channel}
        service.unregister_handler(*args, **kwargs)
        assert service.central.client.channels == frozenset()

    @pytest.mark.parametrize(
        ("args", "kwargs", "message"),
        [
            ((1, 2), {}, "no handler function given"),
            (("system",), {}, "no handler function given"),
            ((handler, 3), {}, "channel must be a str"),
            ((handler,), {"chanel": "x"}, "unexpected arguments"),
        ],
    )
    def test_wrong_calls_are_type_errors_that_show_the_usage(
        self, args: tuple[object, ...], kwargs: dict[str, object], message: str
    ) -> None:
        service = WebSocketService("ws://127.0.0.1:9/ws", shared=False)
        with pytest.raises(TypeError, match=message) as raised:
            service.register_handler(*args, **kwargs)
        assert "register_handler(channel, fn)" in str(raised.value)

    def test_central_service_names_swapped_arguments(self) -> None:
        service = CentralWebSocketService("ws://127.0.0.1:9/ws", shared=False)
        with pytest.raises(TypeError, match=r"channel must be a str.*swapped"):
            service.register_handler(self.handler, "chat")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="fn must be callable"):
            service.register_handler("chat", "not a function")  # type: ignore[arg-type]
        assert service.client.channels == frozenset()
