"""``GET /asyncapi.json`` and ``GET /schemas/…``: a server describes its own catalogue [HTTP-7]."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from canaux.server import Channel, create_app
from canaux.server.testing import running_server, serve_app

from .wire import TIMEOUT, make_config, session

pytestmark = pytest.mark.anyio


class Track(BaseModel):
    title: str


class Album(BaseModel):
    name: str
    tracks: list[Track]


NOTE = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def test_the_document_lists_every_catalogue_entry_and_its_refs_resolve() -> None:
    albums = Channel("albums", schema=Album, publish="both", description="Albums, as added.")
    team = Channel("team.*", schema=NOTE, publish="server")
    config = dataclasses.replace(make_config(), channels=[albums, team])
    async with (
        running_server(config) as server,
        session(server) as (_, welcome),
        httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as http,
    ):
        response = await http.get("/asyncapi.json")
        assert response.status_code == 200
        document = response.json()
        assert document["asyncapi"] == "3.0.0"
        keys = [name.removesuffix(".*") for name in (e["name"] for e in welcome["channels"])]
        described = [k for k in document["channels"] if k not in _NOT_CATALOGUE]
        assert described == keys
        assert document["servers"]["websocket"]["host"] == f"{server.host}:{server.port}"
        assert document["channels"]["albums"]["description"] == "Albums, as added."
        files: dict[str, Any] = {}
        for ref in {r.partition("#")[0] for r in _refs(document) if not r.startswith("#")}:
            got = await http.get("/" + ref.removeprefix("./"))
            assert got.status_code == 200, ref
            files[ref] = got.json()
        assert "./schemas/app/albums.json" in files
        assert "./schemas/app/team.*.json" in files
        # The served app schema is the document the catalogue announces, and it validates
        # through its nested $defs.
        albums_doc = files["./schemas/app/albums.json"]
        entry = next(e for e in welcome["channels"] if e["name"] == "albums")
        assert albums_doc["$id"] == entry["schema"]
        registry: Registry[Any] = Registry().with_resource(
            albums_doc["$id"], Resource.from_contents(albums_doc, DRAFT202012)
        )
        validator = jsonschema.Draft202012Validator(
            {"$ref": albums_doc["$id"] + "#/$defs/event"}, registry=registry.crawl()
        )
        assert validator.is_valid({"name": "x", "tracks": [{"title": "y"}]})
        assert not validator.is_valid({"name": "x", "tracks": [{"title": 1}]})
        missing = await http.get("/schemas/app/nope.json")
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


_NOT_CATALOGUE = {"connection", "sseStream", "legacyChat", "legacySystem"}


async def test_a_mounted_server_names_its_mount_path_and_serves_the_refs_under_it() -> None:
    config = make_config()
    canaux_app = create_app(config)
    api = FastAPI()
    api.mount("/canaux", canaux_app)
    async with (
        serve_app(api, canaux_app, config, prefix="/canaux") as server,
        httpx.AsyncClient(timeout=TIMEOUT) as http,
    ):
        document = (await http.get(server.base_url + "/asyncapi.json")).json()
        for described in document["servers"].values():
            assert described["pathname"] == "/canaux"
            assert described["host"] == f"{server.host}:{server.port}"
        refs = {r.partition("#")[0] for r in _refs(document) if not r.startswith("#")}
        for ref in refs:
            got = await http.get(server.base_url + "/" + ref.removeprefix("./"))
            assert got.status_code == 200, ref
