"""App-defined channels through the public API, over real sockets (canaux.server.channels)."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import canaux.server
from canaux.protocol.codes import ErrorCode
from canaux.server import (
    Access,
    Channel,
    Publication,
    Refused,
    ServerConfig,
    ServerRuntime,
    Subscription,
)
from canaux.server.broker import MemoryBroker
from canaux.server.channels.table import ChannelTable
from canaux.server.testing import running_server

from .wire import (
    PUBLISH_TOKEN,
    TIMEOUT,
    http_publish,
    make_config,
    recv_until,
    request,
    send,
    session,
)

pytestmark = pytest.mark.anyio


def _config(*channels: Channel, **options: Any) -> ServerConfig:
    return dataclasses.replace(make_config(), channels=channels, **options)


NOTE = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def _event(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return frames[-1]


def _is_event(channel: str) -> Any:
    return lambda f: f.get("type") == "event" and f.get("channel") == channel


class TestCatalogue:
    async def test_app_channels_follow_the_standard_ones_in_the_welcome(self) -> None:
        notes = Channel("notes", schema=NOTE, publish="both")
        async with running_server(_config(notes)) as server, session(server) as (_, welcome):
            names = [entry["name"] for entry in welcome["channels"]]
            assert names == [
                *("chat", "playqueue", "system", "progress"),
                *("conformance.*", "conformance.readonly", "conformance.forbidden"),  # CONF-4
                "notes",
            ]
            entry = welcome["channels"][-1]
            assert entry == {
                "name": "notes",
                "publish": "client",
                "schema": "urn:canaux:channel:notes",
            }

    async def test_core_only_catalogue_is_the_conformance_family_alone(self) -> None:
        config = _config(standard_channels=False)
        async with running_server(config) as server, session(server) as (ws, welcome):
            assert [entry["name"] for entry in welcome["channels"]] == [
                "conformance.*",
                "conformance.readonly",  # CONF-4
                "conformance.forbidden",
            ]
            reply = await request(ws, {"type": "subscribe", "id": "s", "channel": "chat"})
            assert reply["code"] == "unknown_channel"

    def test_a_standard_name_must_keep_its_standard_entry(self) -> None:
        # [CHANNEL-6] "chat" with another schema is refused when the server is built.
        with pytest.raises(ValueError, match="standard channel"):
            ChannelTable([Channel("chat", schema=NOTE, publish="both")], MemoryBroker())

    def test_reserved_and_malformed_names_are_refused(self) -> None:
        for name in ("canaux.x", "Bad", "a..b", "conformance.x"):
            with pytest.raises(ValueError, match=r"CHANNEL-1|CHANNEL-6|conformance family"):
                ChannelTable([Channel(name, schema=NOTE)], MemoryBroker())

    def test_a_schema_id_must_name_a_known_channel_schema(self) -> None:
        with pytest.raises(ValueError, match="not a channel schema"):
            ChannelTable([Channel("x", schema="https://example.com/x.json")], MemoryBroker())

    def test_a_client_only_channel_needs_a_hook(self) -> None:
        with pytest.raises(ValueError, match="on_publish"):
            Channel("orders", schema=NOTE, publish="client")


class TestClientPublish:
    async def test_plain_pub_sub_delivers_to_every_subscriber(self) -> None:
        notes = Channel("notes", schema=NOTE, publish="both")
        async with (
            running_server(_config(notes)) as server,
            session(server) as (a, _),
            session(server) as (b, _),
        ):
            for ws in (a, b):
                ack = await request(ws, {"type": "subscribe", "id": "s", "channel": "notes"})
                assert ack["type"] == "ack"
            frame = {"type": "publish", "id": "p", "channel": "notes", "data": {"text": "hi"}}
            await send(a, frame)
            # The ack and the publisher's own event come in either order [OPS-7].
            assert [e["data"] for e in await _events(a, 1)] == [{"text": "hi"}]
            assert [e["data"] for e in await _events(b, 1)] == [{"text": "hi"}]

    async def test_a_publish_failing_the_schema_is_invalid_payload(self) -> None:
        notes = Channel("notes", schema=NOTE, publish="both")
        async with running_server(_config(notes)) as server, session(server) as (ws, _):
            frame = {"type": "publish", "id": "p", "channel": "notes", "data": {"text": 3}}
            reply = await request(ws, frame)
            assert (reply["code"], reply["pointer"]) == ("invalid_payload", "/data/text")

    async def test_a_hook_transforms_refuses_and_replies_to_the_requester(self) -> None:
        async def on_publish(publication: Publication) -> None:
            text = publication.data["text"]
            if text == "no":
                raise Refused(ErrorCode.INVALID_COMMAND, "no is not an answer", "/data/text")
            publication.reply({"text": f"seen {publication.request_id}"})
            await publication.broadcast({"text": text.upper()})

        shout = Channel("shout", schema=NOTE, publish="client", on_publish=on_publish)
        async with (
            running_server(_config(shout)) as server,
            session(server) as (a, _),
            session(server) as (b, _),
        ):
            for ws in (a, b):
                await request(ws, {"type": "subscribe", "id": "s", "channel": "shout"})
            refused = await request(
                a, {"type": "publish", "id": "p0", "channel": "shout", "data": {"text": "no"}}
            )
            assert (refused["code"], refused["pointer"]) == ("invalid_command", "/data/text")
            frame = {"type": "publish", "id": "p1", "channel": "shout", "data": {"text": "hi"}}
            await send(a, frame)
            got_a = [e["data"] for e in await _events(a, 2)]
            assert sorted(got_a, key=str) == [{"text": "HI"}, {"text": "seen p1"}]
            # The other subscriber gets the broadcast, never the reply [CHAT-2].
            event = _event(await recv_until(b, _is_event("shout")))
            assert event["data"] == {"text": "HI"}

    async def test_spawned_work_starts_after_the_ack(self) -> None:
        async def on_publish(publication: Publication) -> None:
            async def later() -> None:
                publication.reply({"text": "after"})

            publication.spawn(later())
            await asyncio.sleep(0)  # even if the hook yields, the work waits for the ack

        echo = Channel("later", schema=NOTE, publish="client", on_publish=on_publish)
        async with running_server(_config(echo)) as server, session(server) as (ws, _):
            await request(ws, {"type": "subscribe", "id": "s", "channel": "later"})
            await send(
                ws, {"type": "publish", "id": "p", "channel": "later", "data": {"text": "x"}}
            )
            frames = await recv_until(ws, _is_event("later"))
            kinds = [f["type"] for f in frames]
            assert kinds.index("ack") < kinds.index("event")


async def _events(ws: Any, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events on ``ws`` (other frames skipped)."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        frames = await recv_until(ws, lambda f: f.get("type") == "event")
        events.append(frames[-1])
    return events


class TestAccessPolicy:
    @staticmethod
    def _staff_only(access: Access) -> bool:
        return access.identity == "staff" or (
            access.action == "subscribe" and access.channel.endswith(".public")
        )

    async def test_subscribe_and_publish_are_forbidden_to_other_identities(self) -> None:
        team = Channel("team.*", schema=NOTE, publish="both", access=self._staff_only)
        async with running_server(_config(team)) as server:
            async with session(server, token="guest") as (ws, _):
                reply = await request(ws, {"type": "subscribe", "id": "s", "channel": "team.a"})
                assert reply["code"] == "forbidden"  # [CHANNEL-13]
                ok = await request(ws, {"type": "subscribe", "id": "t", "channel": "team.public"})
                assert ok["type"] == "ack"
                # [CHANNEL-14] forbidden comes before the schema check.
                bad = {"type": "publish", "id": "p", "channel": "team.public", "data": {}}
                assert (await request(ws, bad))["code"] == "forbidden"
                # [CHANNEL-16] the refused subscribe left the session unsubscribed.
                again = await request(ws, {"type": "subscribe", "id": "u", "channel": "team.a"})
                assert again["code"] == "forbidden"
            async with session(server, token="staff") as (ws, _):
                reply = await request(ws, {"type": "subscribe", "id": "s", "channel": "team.a"})
                assert reply["type"] == "ack"

    async def test_sse_answers_403_for_a_denied_channel(self) -> None:
        team = Channel("team.*", schema=NOTE, publish="both", access=self._staff_only)
        async with running_server(_config(team)) as server:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.get(server.events_url, params={"channels": "team.a"})
            assert response.status_code == 403  # [SSE-12]
            assert response.json()["code"] == "forbidden"

    async def test_a_policy_that_raises_denies(self) -> None:
        def broken(access: Access) -> bool:
            raise RuntimeError("bug")

        table = ChannelTable([Channel("x", schema=NOTE, access=broken)], MemoryBroker())
        assert table.permits("anyone", "subscribe", "x") is False


class TestServerPublish:
    async def test_server_publish_reaches_subscribers_with_the_next_seq(self) -> None:
        notes = Channel("notes", schema=NOTE, publish="server")
        async with running_server(_config(notes)) as server, session(server) as (ws, _):
            await request(ws, {"type": "subscribe", "id": "s", "channel": "notes"})
            await server.runtime.publish("notes", {"text": "one"})
            await server.runtime.publish("notes", {"text": "two"})
            first = _event(await recv_until(ws, _is_event("notes")))
            second = _event(await recv_until(ws, _is_event("notes")))
            assert [first["data"]["text"], second["data"]["text"]] == ["one", "two"]
            assert second["seq"] == first["seq"] + 1

    async def test_server_publish_is_checked_like_http_publish(self) -> None:
        notes = Channel("notes", schema=NOTE, publish="server")
        async with running_server(_config(notes)) as server:
            runtime = server.runtime
            cases: list[tuple[str, Any, ErrorCode]] = [
                ("nope", {"text": "x"}, ErrorCode.UNKNOWN_CHANNEL),
                ("notes", {"text": 1}, ErrorCode.INVALID_PAYLOAD),
                ("chat", {"type": "message", "text": "x"}, ErrorCode.FORBIDDEN),
                ("playqueue", {"op": "clear"}, ErrorCode.FORBIDDEN),
            ]
            for channel, data, code in cases:
                with pytest.raises(Refused) as refused:
                    await runtime.publish(channel, data)
                assert refused.value.code is code, channel
            # A progress update that goes backwards is refused by the channel's hook.
            update = {"task": "t", "kind": "scan", "status": "running", "current": 2, "total": 4}
            await runtime.publish("progress", update)
            with pytest.raises(Refused) as refused:
                await runtime.publish("progress", {**update, "current": 1})
            assert (refused.value.code, refused.value.pointer) == (
                ErrorCode.INVALID_PAYLOAD,
                "/data/current",
            )

    async def test_http_publish_takes_the_same_path(self) -> None:
        notes = Channel("notes", schema=NOTE, publish="server")
        async with running_server(_config(notes)) as server, session(server) as (ws, _):
            await request(ws, {"type": "subscribe", "id": "s", "channel": "notes"})
            response = await http_publish(server, "notes", {"text": "over http"})
            assert response.status_code == 202
            event = _event(await recv_until(ws, _is_event("notes")))
            assert event["data"] == {"text": "over http"}
            bad = await http_publish(server, "notes", {"text": 1})
            assert (bad.status_code, bad.json()["pointer"]) == (422, "/data/text")

    async def test_a_hook_refusal_over_http_keeps_its_code(self) -> None:
        async def versioned(publication: Publication) -> None:
            if publication.data["text"] != "v2":
                raise Refused(ErrorCode.VERSION_CONFLICT, "expected v2")
            await publication.broadcast()

        doc = Channel("doc", schema=NOTE, publish="both", on_publish=versioned)
        async with running_server(_config(doc)) as server:
            conflict = await http_publish(server, "doc", {"text": "v1"})
            assert (conflict.status_code, conflict.json()["code"]) == (409, "version_conflict")
            assert (
                await http_publish(server, "doc", {"text": "v2"})
            ).status_code == 202  # [HTTP-6]

    async def test_publish_threadsafe_from_a_worker_thread(self) -> None:
        notes = Channel("notes", schema=NOTE, publish="server")
        async with running_server(_config(notes)) as server, session(server) as (ws, _):
            await request(ws, {"type": "subscribe", "id": "s", "channel": "notes"})
            runtime = server.runtime
            errors: list[BaseException] = []

            def worker() -> None:
                runtime.publish_threadsafe("notes", {"text": "from a thread"}).result(TIMEOUT)
                try:
                    runtime.publish_threadsafe("notes", {"text": 5}).result(TIMEOUT)
                except Refused as refused:
                    errors.append(refused)

            await asyncio.wait_for(asyncio.to_thread(worker), TIMEOUT)
            event = _event(await recv_until(ws, _is_event("notes")))
            assert event["data"] == {"text": "from a thread"}
            assert [type(e) for e in errors] == [Refused]
            with pytest.raises(RuntimeError, match="await publish"):
                runtime.publish_threadsafe("notes", {"text": "in the loop"})

    def test_publish_threadsafe_needs_a_running_server(self) -> None:
        from canaux.server import create_app, runtime_of

        runtime = runtime_of(create_app(make_config()))
        with pytest.raises(RuntimeError, match="not running"):
            runtime.publish_threadsafe("system", {"level": "info", "text": "x"})
        assert threading.current_thread() is threading.main_thread()


class TestSnapshot:
    async def test_a_snapshot_hook_answers_each_new_subscriber_after_its_ack(self) -> None:
        async def snapshot(subscription: Subscription) -> Any:
            return {"text": f"hello {subscription.identity} on {subscription.channel}"}

        room = Channel("room.*", schema=NOTE, publish="both", snapshot=snapshot)
        async with running_server(_config(room)) as server, session(server, token="ann") as (ws, _):
            await send(ws, {"type": "subscribe", "id": "s", "channel": "room.1"})
            frames = await recv_until(ws, _is_event("room.1"))
            assert [f["type"] for f in frames] == ["ack", "event"]
            assert frames[-1]["data"] == {"text": "hello ann on room.1"}

    async def test_retain_last_sends_the_latest_event_to_new_subscribers(self) -> None:
        latest = Channel("latest", schema=NOTE, publish="server", retain_last=True)
        async with running_server(_config(latest)) as server:
            async with session(server) as (ws, _):
                # Nothing published yet: the ack comes alone.
                assert (await request(ws, {"type": "subscribe", "id": "s", "channel": "latest"}))[
                    "type"
                ] == "ack"
            await server.runtime.publish("latest", {"text": "v1"})
            await server.runtime.publish("latest", {"text": "v2"})
            async with session(server) as (ws, _):
                await send(ws, {"type": "subscribe", "id": "s", "channel": "latest"})
                frames = await recv_until(ws, _is_event("latest"))
                assert frames[-1]["data"] == {"text": "v2"}


class Track(BaseModel):
    title: str


class Album(BaseModel):
    name: str
    tracks: list[Track]


class TestPydanticSchema:
    async def test_a_model_with_nested_models_validates_through_its_defs(self) -> None:
        albums = Channel("albums", schema=Album, publish="both")
        async with running_server(_config(albums)) as server, session(server) as (ws, _):
            good = {"name": "Kind of Blue", "tracks": [{"title": "So What"}]}
            frame = {"type": "publish", "id": "p", "channel": "albums", "data": good}
            assert (await request(ws, frame))["type"] == "ack"
            bad = {"name": "x", "tracks": [{"title": 7}]}
            reply = await request(ws, {**frame, "id": "q", "data": bad})
            assert (reply["code"], reply["pointer"]) == ("invalid_payload", "/data/tracks/0/title")


async def test_http_publish_needs_its_token_for_app_channels_too() -> None:
    notes = Channel("notes", schema=NOTE, publish="server")
    async with running_server(_config(notes)) as server:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.post(
                server.base_url + "/publish",
                json={"channel": "notes", "data": {"text": "x"}},
                headers={"Authorization": f"Bearer not-{PUBLISH_TOKEN}"},
            )
        assert response.status_code == 401


class TestStandardChannelsUseThePublicApi:
    def test_every_standard_channel_is_a_public_channel_declaration(self) -> None:
        runtime = ServerRuntime(ServerConfig(conformance=True))
        channels = {channel.name: channel for channel in runtime.channels}
        assert list(channels) == [
            "chat",
            "playqueue",
            "system",
            "progress",
            "conformance.*",
            "conformance.readonly",  # CONF-4
            "conformance.forbidden",
        ]
        assert all(type(channel) is Channel for channel in channels.values())
        assert (channels["chat"].publish, channels["playqueue"].publish) == ("client", "client")
        assert channels["playqueue"].snapshot is not None
        assert channels["progress"].on_publish is not None
        assert channels["conformance.*"].on_publish is None  # plain pub/sub, the default

    @pytest.mark.parametrize("door", ["websocket.py", "sse.py", "http_api.py"])
    def test_the_doors_know_no_channel_by_name(self, door: str) -> None:
        source = Path(canaux.server.__file__).parent / door
        tree = ast.parse(source.read_text(encoding="utf-8"))
        # No channel name comes in (a module's CHANNEL constant) and none is written out; the
        # scan endpoint may use the scan task of the progress service, not a channel branch.
        standard = {f"canaux.server.channels.{name}" for name in _STANDARD_MODULES}
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module in standard
            for alias in node.names
        }
        assert "CHANNEL" not in names
        assert names <= {"ScanTask", "resolve_scan_path"}
        literals = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not literals & {"chat", "playqueue", "system", "progress"}


_STANDARD_MODULES = ("chat", "playqueue", "system", "progress", "conformance")


class TestServerPublishData:
    async def test_data_that_is_not_i_json_is_refused_where_it_enters(self) -> None:
        anything = Channel("anything", schema={}, publish="server")
        async with running_server(_config(anything)) as server:
            for data, pointer in (({"big": 2**60}, "/data/big"), ({"t": "\ufdd0"}, "/data/t")):
                with pytest.raises(Refused) as refused:
                    await server.runtime.publish("anything", data)  # [TRANSPORT-20]
                assert (refused.value.code, refused.value.pointer) == (
                    ErrorCode.INVALID_PAYLOAD,
                    pointer,
                )

    async def test_a_pydantic_instance_is_published_as_its_json_form(self) -> None:
        albums = Channel("albums", schema=Album, publish="server")
        async with running_server(_config(albums)) as server, session(server) as (ws, _):
            await request(ws, {"type": "subscribe", "id": "s", "channel": "albums"})
            album = Album(name="Kind of Blue", tracks=[Track(title="So What")])
            await server.runtime.publish("albums", album)
            event = _event(await recv_until(ws, _is_event("albums")))
            assert event["data"] == {"name": "Kind of Blue", "tracks": [{"title": "So What"}]}


class TestHookEventsAreChecked:
    async def test_a_reply_that_fails_the_event_schema_is_an_internal_error(self) -> None:
        async def on_publish(publication: Publication) -> None:
            publication.reply({"text": 42})  # not a NOTE: a bug of the app

        buggy = Channel("buggy", schema=NOTE, publish="client", on_publish=on_publish)
        async with running_server(_config(buggy)) as server, session(server) as (ws, _):
            await request(ws, {"type": "subscribe", "id": "s", "channel": "buggy"})
            frame = {"type": "publish", "id": "p", "channel": "buggy", "data": {"text": "x"}}
            await send(ws, frame)
            frames = await recv_until(ws, lambda f: f.get("id") == "p")
            assert frames[-1]["code"] == "internal_error"  # [CHANNEL-12] nothing invalid sent
            assert not any(f.get("type") == "event" for f in frames)

    async def test_a_snapshot_that_fails_the_event_schema_is_not_sent(self) -> None:
        async def snapshot(subscription: Subscription) -> Any:
            return {"nope": True}

        buggy = Channel("buggy", schema=NOTE, publish="server", snapshot=snapshot)
        async with running_server(_config(buggy)) as server, session(server) as (ws, _):
            reply = await request(ws, {"type": "subscribe", "id": "s", "channel": "buggy"})
            assert reply["type"] == "ack"
            await server.runtime.publish("buggy", {"text": "live"})
            event = _event(await recv_until(ws, _is_event("buggy")))
            assert event["data"] == {"text": "live"}  # the first event is the live one
