"""POST /publish, GET /health, POST /tasks/scan (spec http-publish.md, HTTP-1, PROGRESS-1)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

from canaux.server.testing import RunningServer, running_server

from .wire import PUBLISH_TOKEN, TIMEOUT, make_config, recv_until, request, session

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {PUBLISH_TOKEN}"}


async def _post(
    server: RunningServer,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        if raw is not None:
            return await client.post(server.base_url + path, content=raw, headers=headers)
        return await client.post(server.base_url + path, json=body, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [None, {"Authorization": "Bearer wrong"}, {"Authorization": PUBLISH_TOKEN}],
    ids=["none", "wrong", "no-scheme"],
)
async def test_publish_needs_the_bearer_token(server: RunningServer, headers: Any) -> None:
    body = {"channel": "system", "data": {"level": "info", "text": "x"}}
    response = await _post(server, "/publish", body, headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_publish_without_configured_token_is_refused() -> None:
    config = dataclasses.replace(make_config(), publish_token=None)
    async with running_server(config) as server:
        response = await _post(server, "/publish", {"channel": "system", "data": {}}, AUTH)
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "code", "pointer"),
    [
        ({"channel": "nope", "data": {}}, 400, "unknown_channel", "/channel"),
        ({"data": {}}, 400, "bad_frame", "/channel"),
        ({"channel": "system"}, 400, "bad_frame", "/data"),
        ([1, 2], 400, "bad_frame", ""),
        (
            {"channel": "system", "data": {"level": "loud", "text": "x"}},
            422,
            "invalid_payload",
            "/data/level",
        ),
        ({"channel": "conformance.a", "data": {"mark": ""}}, 422, "invalid_payload", "/data/mark"),
        (
            {"channel": "chat", "data": {"type": "message", "text": "x"}},
            403,
            "forbidden",
            "/channel",
        ),
    ],
)
async def test_publish_errors(
    server: RunningServer, body: Any, status: int, code: str, pointer: str
) -> None:
    """HTTP-1: 400 unknown_channel / bad_frame, 422 invalid_payload with pointer."""
    response = await _post(server, "/publish", body, AUTH)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["pointer"] == pointer


async def test_publish_not_json_is_400(server: RunningServer) -> None:
    response = await _post(server, "/publish", headers=AUTH, raw=b"{nope")
    assert (response.status_code, response.json()["code"]) == (400, "bad_frame")


async def test_publish_is_delivered_to_subscribers(server: RunningServer) -> None:
    async with session(server) as (ws, _):
        await request(ws, {"type": "subscribe", "id": "s", "channel": "system"})
        data = {"level": "info", "text": "Library scan finished", "code": "scan.done"}
        response = await _post(server, "/publish", {"channel": "system", "data": data}, AUTH)
        assert response.status_code == 202
        assert response.json() == {"channel": "system", "delivered": True}
        event = (await recv_until(ws, lambda f: f["type"] == "event"))[-1]
        assert event["data"] == data


async def test_progress_may_not_go_backwards(server: RunningServer) -> None:
    """PROGRESS-1 enforced on HTTP publishes: 422 invalid_payload with the pointer of the
    regression [HTTP-6]."""
    base = {"task": "job-1", "kind": "import"}

    async def post(**fields: Any) -> httpx.Response:
        return await _post(
            server, "/publish", {"channel": "progress", "data": {**base, **fields}}, AUTH
        )

    assert (await post(status="running", current=5, total=10)).status_code == 202
    back = await post(status="running", current=4, total=10)
    assert (back.status_code, back.json()["pointer"]) == (422, "/data/current")
    assert back.json()["code"] == "invalid_payload"
    changed = await post(status="running", current=6, total=11)
    assert changed.json()["pointer"] == "/data/total"
    early = await post(status="done", current=9, total=10)
    assert early.json()["pointer"] == "/data/current"
    assert (await post(status="done", current=10, total=10)).status_code == 202
    after = await post(status="running", current=10, total=10)
    assert after.json()["pointer"] == "/data/status"


async def test_health_counts_sessions_and_connections(server: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        assert (await client.get(server.base_url + "/health")).json() == {
            "status": "ok",
            "sessions": 0,
            "connections": 0,
        }
        async with session(server), session(server):
            body = (await client.get(server.base_url + "/health")).json()
            assert (body["sessions"], body["connections"]) == (2, 2)


async def test_scan_reports_monotonic_progress(tmp_path: Path) -> None:
    """PROGRESS-1: pending → running → done, current never decreases, done at total."""
    library = tmp_path / "music"
    for n in range(7):
        album = library / f"album{n % 3}"
        album.mkdir(parents=True, exist_ok=True)
        (album / f"track{n}.flac").write_bytes(b"x" * (n + 1))
    config = dataclasses.replace(make_config(), scan_root=tmp_path)
    async with running_server(config) as server, session(server) as (ws, _):
        await request(ws, {"type": "subscribe", "id": "p", "channel": "progress"})
        await request(ws, {"type": "subscribe", "id": "s", "channel": "system"})
        response = await _post(server, "/tasks/scan", {"path": "music"}, AUTH)
        assert response.status_code == 202
        task = response.json()["task"]
        frames = await recv_until(
            ws, lambda f: f["type"] == "event" and f["data"].get("status") in ("done", "failed")
        )
        updates = [f["data"] for f in frames if f["type"] == "event" and f["channel"] == "progress"]
        assert {u["task"] for u in updates} == {task}
        assert updates[0]["status"] == "pending"
        assert updates[-1]["status"] == "done"
        assert (updates[-1]["current"], updates[-1]["total"]) == (7, 7)
        assert "28 bytes" in updates[-1]["message"]
        currents = [u["current"] for u in updates]
        assert currents == sorted(currents)
        totals = {u["total"] for u in updates if u["total"] is not None}
        assert totals == {7}
        notice = (
            await recv_until(ws, lambda f: f["type"] == "event" and f["channel"] == "system")
        )[-1]
        assert notice["data"]["code"] == "scan.done"


@pytest.mark.parametrize(
    ("body", "status"), [({"path": "../.."}, 400), ({"path": "missing"}, 400), ({"path": 3}, 400)]
)
async def test_scan_refuses_paths_outside_the_root(tmp_path: Path, body: Any, status: int) -> None:
    config = dataclasses.replace(make_config(), scan_root=tmp_path)
    async with running_server(config) as server:
        response = await _post(server, "/tasks/scan", body, AUTH)
        assert response.status_code == status
        assert response.json()["pointer"] == "/path"


async def test_scan_without_root_is_404(server: RunningServer) -> None:
    response = await _post(server, "/tasks/scan", {}, AUTH)
    assert response.status_code == 404
    assert (await _post(server, "/tasks/scan", {}, None)).status_code == 401
