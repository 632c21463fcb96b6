"""Tests of the scripted server (conformance/canaux_conformance/client/scripted_server.py).

A raw ``websockets`` client plays the client under test, so each injection and each audit
finding is checked on its own, over a real loopback socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from canaux_conformance.client.scripted_server import ScriptedConnection, ScriptedServer, fragment
from canaux_conformance.transcript import Transcript

T = TypeVar("T")
Scenario = Callable[[ScriptedServer, ClientConnection, ScriptedConnection], Awaitable[T]]


def _run(scenario: Scenario[T], *, select: bool = True) -> T:
    async def main() -> T:
        server = await ScriptedServer(Transcript(), select_subprotocol=select).start()
        try:
            async with asyncio.timeout(20):
                async with connect(server.url, subprotocols=["canaux.v1"]) as ws:  # type: ignore[list-item]
                    conn = await server.accept(timeout=5)
                    return await scenario(server, ws, conn)
        finally:
            await server.aclose()

    return asyncio.run(main())


class TestInjections:
    def test_listens_on_a_loopback_port_chosen_by_the_system(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> str:  # fmt: skip
            return server.url

        url = _run(scenario)
        assert url.startswith("ws://127.0.0.1:")
        assert not url.startswith("ws://127.0.0.1:0/")

    def test_a_valid_welcome_and_events_reach_the_client(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> list[dict[str, object]]:  # fmt: skip
            await ws.send(json.dumps({"type": "hello", "version": 1}))
            hello = await conn.hello(timeout=5)
            assert hello.type == "hello"
            await conn.welcome()
            await conn.event(1, "conformance.a", {"x": 1})
            return [json.loads(await ws.recv()) for _ in range(2)]

        welcome, event = _run(scenario)
        assert welcome["type"] == "welcome"
        assert welcome["resumed"] is False
        assert event == {"type": "event", "seq": 1, "channel": "conformance.a", "data": {"x": 1}}

    def test_a_cut_ends_the_connection_without_a_close_frame(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> int | None:  # fmt: skip
            conn.cut()
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1006
            return await conn.wait_closed(timeout=5)

        assert _run(scenario) == 1006

    def test_a_close_code_and_the_clients_own_close_code_are_recorded(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> tuple[int | None, int | None]:  # fmt: skip
            await ws.close(1002, "bye")
            return await conn.wait_closed(timeout=5), None

        assert _run(scenario)[0] == 1002

    def test_without_subprotocol_selection_the_response_has_none(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> tuple[object, ...]:  # fmt: skip
            return ws.subprotocol, conn.offered

        assert _run(scenario, select=False) == (None, ("canaux.v1",))

    def test_client_pings_are_answered_until_the_connection_stalls(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> tuple[object, bool]:  # fmt: skip
            await ws.send(json.dumps({"type": "ping", "nonce": "k"}))
            pong = json.loads(await ws.recv())
            conn.stall()
            await ws.send(json.dumps({"type": "ping", "nonce": "j"}))
            await conn.next(timeout=5, types=("ping",))
            await conn.next(timeout=5, types=("ping",))
            try:
                async with asyncio.timeout(0.3):
                    await ws.recv()
                answered = True
            except TimeoutError:
                answered = False
            return pong, answered

        assert _run(scenario) == ({"type": "pong", "nonce": "k"}, False)

    def test_a_fragmented_message_reaches_the_client_in_several_frames(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> list[str]:  # fmt: skip
            await conn.event(1, "conformance.a", {"t": "é🧩" * 20}, fragments=3)
            return [piece async for piece in ws.recv_streaming(decode=True)]

        pieces = _run(scenario)
        assert len([p for p in pieces if p]) == 3
        assert json.loads("".join(pieces))["data"] == {"t": "é🧩" * 20}

    def test_fragment_cuts_into_equal_pieces_and_inside_multibyte_characters(self) -> None:
        assert fragment("abcdefgh", 3) == [b"abc", b"def", b"gh"]
        assert fragment("ab", 5) == [b"a", b"b"]
        pieces = fragment("é" * 10, 3)
        assert b"".join(pieces) == ("é" * 10).encode()
        assert len(pieces) == 3
        for piece in pieces:  # every cut falls inside a character
            with pytest.raises(UnicodeDecodeError):
                piece.decode()


class TestFrameAudit:
    @pytest.mark.parametrize(
        ("message", "requirement"),
        [
            (b'{"type":"hello","version":1}', "TRANSPORT-3"),
            ("[1, 2]", "TRANSPORT-3"),
            ('{"type":"hello","version":1,"version":1}', "TRANSPORT-9"),
            ('{"type":"hello","version":1,"token":"\\ud800"}', "TRANSPORT-17"),
            ('{"type":"hello"}', "OPS-12"),
            ('{"type":"subscribe","id":"","channel":"conformance.a"}', "OPS-12"),
        ],
    )
    def test_a_frame_no_client_may_send_is_a_finding(
        self, message: str | bytes, requirement: str
    ) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> list[str | None]:  # fmt: skip
            await ws.send(message)
            await conn.next(timeout=5)
            return [v.requirement for v in server.violations()]

        assert _run(scenario)[:1] == [requirement]

    def test_valid_frames_are_no_finding(self) -> None:
        async def scenario(server: ScriptedServer, ws: ClientConnection,
                           conn: ScriptedConnection) -> list[str | None]:  # fmt: skip
            for frame in (
                {"type": "hello", "version": 1},
                {"type": "subscribe", "id": "s1", "channel": "conformance.a"},
                {"type": "publish", "id": "p1", "channel": "conformance.a", "data": [1.5, "é"]},
                {"type": "pong"},
            ):
                await ws.send(json.dumps(frame))
                await conn.next(timeout=5)
            return [v.requirement for v in server.violations()]

        assert _run(scenario) == []
