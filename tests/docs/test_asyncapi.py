"""The AsyncAPI 3 document: generated from schemas/, covering it all, valid for the official parser.

The validator is ``@asyncapi/parser`` from the npm registry (``docs/node_modules``, installed
by ``make docs-deps``), run on the document with the schema files beside it, as published.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import canaux_schemas
from docs.sitegen import asyncapi
from docs.sitegen.paths import DOCS, NODE_MODULES, SCHEMAS

VALIDATOR = DOCS / "asyncapi" / "validate.mjs"


def _document() -> dict[str, Any]:
    return asyncapi.build_document(canaux_schemas.all_schemas())


def _resolve(document_dir: Path, ref: str) -> Any:
    """Follow a ``./schemas/x.json#/pointer`` reference the way a JSON Schema tool would."""
    target, _, pointer = ref.partition("#")
    node: Any = json.loads((document_dir / target).read_text(encoding="utf-8"))
    for part in filter(None, pointer.split("/")):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _publish(document: dict[str, Any], folder: Path) -> Path:
    """Write the document with the schema files beside it, as the site publishes them."""
    for path in canaux_schemas.all_schemas():
        (folder / "schemas" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCHEMAS / path, folder / "schemas" / path)
    target = folder / "asyncapi.json"
    target.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return target


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not (NODE_MODULES / "@asyncapi" / "parser").is_dir():
        pytest.fail("@asyncapi/parser is not installed: run `make docs-deps` (npm ci in docs/)")
    return subprocess.run(
        ["node", str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_document_has_a_message_for_every_frame_type() -> None:
    document = _document()
    frame = canaux_schemas.load("frame.json")
    client, server = asyncapi.frame_directions(frame)
    messages = document["components"]["messages"]
    for name in set(client + server) - {"publish"}:
        assert name in messages, f"frame {name} has no message"
    receives = {
        ref["$ref"].rsplit("/", 1)[-1]
        for op in document["operations"].values()
        if op["action"] == "receive"
        for ref in op["messages"]
    }
    assert {"hello", "subscribe", "unsubscribe", "ping", "pong"} <= receives


def test_document_has_a_channel_for_every_channel_schema() -> None:
    document = _document()
    schemas = canaux_schemas.all_schemas()
    for path, schema in schemas.items():
        if not path.startswith("channels/"):
            continue
        name = Path(path).stem
        channel = document["channels"][name]
        has_publish = "publish" in schema["$defs"]
        assert (f"{name}Publish" in channel["messages"]) == has_publish
        assert f"{name}Event" in channel["messages"]


def test_every_payload_reference_resolves_into_the_schemas(tmp_path: Path) -> None:
    document = _document()
    _publish(document, tmp_path)
    external = [ref for ref in _refs(document) if not ref.startswith("#")]
    assert external, "no payload references schemas/"
    for ref in external:
        node = _resolve(tmp_path, ref)
        assert isinstance(node, dict), ref
        assert node, ref


def test_official_parser_accepts_the_document(tmp_path: Path) -> None:
    result = _validate(_publish(_document(), tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout


def _action_from_asyncapi_2(document: dict[str, Any]) -> None:
    operation = next(iter(document["operations"].values()))
    operation["action"] = "publish"  # AsyncAPI 2 vocabulary: not an action in 3.0


def _payload_pointing_nowhere(document: dict[str, Any]) -> None:
    document["components"]["messages"]["hello"]["payload"] = {
        "$ref": "./schemas/frame.json#/$defs/no_such_frame"
    }


@pytest.mark.parametrize("breakage", [_action_from_asyncapi_2, _payload_pointing_nowhere])
def test_official_parser_rejects_a_broken_document(
    tmp_path: Path, breakage: Callable[[dict[str, Any]], None]
) -> None:
    document = _document()
    breakage(document)
    result = _validate(_publish(document, tmp_path))
    assert result.returncode == 1, result.stdout
    assert "error" in result.stdout


def test_site_publishes_the_document_with_its_schemas(built_site: Path) -> None:
    published = json.loads((built_site / "asyncapi.json").read_text(encoding="utf-8"))
    assert published == _document()
    assert (built_site / "asyncapi.yaml").is_file()
    for ref in _refs(published):
        if not ref.startswith("#"):
            assert _resolve(built_site, ref), ref
    result = _validate(built_site / "asyncapi.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_legacy_endpoints_are_described_from_their_schema() -> None:
    document = _document()
    assert "legacy.json" in canaux_schemas.all_schemas()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {"/ws", "/events", "/ws/chat", "/api/ws"} <= addresses
    legacy_refs = [ref for ref in _refs(document) if ref.startswith("./schemas/legacy.json")]
    assert sorted(set(legacy_refs)) == [
        "./schemas/legacy.json#/$defs/client_frame",
        "./schemas/legacy.json#/$defs/server_frame",
    ]


def test_official_parser_accepts_a_servers_document_with_app_channels(tmp_path: Path) -> None:
    """A running server's document (GET /asyncapi.json) comes from the same builder; with app
    channels (a pydantic model with nested models, a family with a policy, a hook with its own
    publish schema) and its schema files as the server serves them, it is valid too [HTTP-7]."""
    from canaux.server import ServerConfig, ServerRuntime
    from canaux.server.description import describe, schema_files
    from docs.examples.library_channel import library
    from docs.examples.lyrics_channel import lyrics
    from docs.examples.rooms_channel import rooms

    runtime = ServerRuntime(ServerConfig(conformance=True, channels=[library, rooms, lyrics]))
    document = describe(runtime, host="127.0.0.1:8001", pathname="/canaux")
    assert {"library", "rooms", "lyrics", "conformance", "chat"} <= set(document["channels"])
    assert document["channels"]["rooms"]["address"] == "rooms.{name}"
    assert "lyricsPublish" in document["components"]["messages"]
    assert "libraryPublish" not in document["components"]["messages"]  # server-only
    for path, schema in schema_files(runtime).items():
        (tmp_path / "schemas" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "schemas" / path).write_text(json.dumps(schema), encoding="utf-8")
    target = tmp_path / "asyncapi.json"
    target.write_text(json.dumps(document), encoding="utf-8")
    for ref in (r for r in _refs(document) if not r.startswith("#")):
        assert isinstance(_resolve(tmp_path, ref), dict), ref
    result = _validate(target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout
