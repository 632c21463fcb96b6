"""The schema files themselves (spec "Schema files"): valid 2020-12, stable ids, documented, exact.

Every JSON Schema shipped in ``canaux_schemas`` is checked against the 2020-12 metaschema, its
``$id`` must be derived from its path, every schema and property carries a description and
examples that validate, every ``$ref`` resolves through :func:`canaux_schemas.registry`, and the
constraints that the contract states precisely are pinned by accept/reject cases.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import canaux_schemas

__all__: list[str] = []

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS = canaux_schemas.all_schemas()
FRAME = canaux_schemas.load("frame.json")
FRAME_TYPES = (
    "hello",
    "welcome",
    "subscribe",
    "unsubscribe",
    "publish",
    "ack",
    "error",
    "event",
    "ping",
    "pong",
)
# Keywords whose subschemas re-constrain members declared elsewhere (conditions, negations):
# they are not declarations, so they need no description of their own.
CONDITION_KEYWORDS = ("if", "then", "else", "not")


def validator(uri: str) -> Draft202012Validator:
    """A validator for the schema at ``uri`` (absolute, fragment allowed), refs via the registry."""
    return Draft202012Validator({"$ref": uri}, registry=canaux_schemas.registry())


def frame_def(name: str) -> Draft202012Validator:
    return validator(f"{canaux_schemas.FRAME_SCHEMA_ID}#/$defs/{name}")


def subschemas(schema: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema below ``schema`` with its JSON pointer, conditions excluded."""
    if not isinstance(schema, dict):
        return
    for keyword in ("properties", "$defs", "patternProperties"):
        for key, sub in schema.get(keyword, {}).items():
            yield f"{pointer}/{keyword}/{key}", sub
            yield from subschemas(sub, f"{pointer}/{keyword}/{key}")
    for keyword in ("items", "additionalProperties", "contains", "propertyNames"):
        if isinstance(schema.get(keyword), dict):
            yield from subschemas(schema[keyword], f"{pointer}/{keyword}")
    for keyword in ("oneOf", "anyOf", "allOf", "prefixItems"):
        for index, sub in enumerate(schema.get(keyword, [])):
            yield from subschemas(sub, f"{pointer}/{keyword}/{index}")


def refs(schema: Any) -> Iterator[str]:
    """Every ``$ref`` value anywhere in ``schema``."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key not in ("const", "examples", "enum", "default"):
                yield from refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from refs(item)


def test_the_package_holds_the_contract_schemas() -> None:
    assert set(SCHEMAS) >= {
        "frame.json",
        "vector.json",
        "legacy.json",
        *(f"channels/{name}.json" for name in canaux_schemas.CHANNEL_SCHEMAS),
    }


def test_no_json_file_of_a_schema_folder_is_silently_skipped() -> None:
    """all_schemas() skips files without ``$schema``; only the requirement index may lack it."""
    root = resources.files("canaux_schemas")
    for folder in (root, root / "channels"):
        for entry in folder.iterdir():
            if entry.name.endswith(".json") and entry.name != "requirements.json":
                relative = entry.name if folder == root else f"channels/{entry.name}"
                assert relative in SCHEMAS, f"{relative} has no $schema member"


@pytest.mark.parametrize("path", sorted(SCHEMAS))
class TestEverySchema:
    def test_is_valid_under_the_2020_12_metaschema(self, path: str) -> None:
        schema = SCHEMAS[path]
        assert schema["$schema"] == DRAFT_2020_12
        Draft202012Validator.check_schema(schema)

    def test_id_is_derived_from_its_path(self, path: str) -> None:
        assert SCHEMAS[path]["$id"] == canaux_schemas.schema_id(path)

    def test_root_and_every_definition_have_examples_that_validate(self, path: str) -> None:
        schema = SCHEMAS[path]
        targets = {"": schema} | {f"/$defs/{k}": v for k, v in schema.get("$defs", {}).items()}
        for pointer, sub in targets.items():
            examples = sub.get("examples")
            assert examples, f"{path}#{pointer} has no examples"
            check = validator(f"{schema['$id']}#{pointer}")
            for example in examples:
                errors = [e.message for e in check.iter_errors(example)]
                assert not errors, f"{path}#{pointer} example {example!r}: {errors}"

    def test_every_schema_and_property_has_a_description(self, path: str) -> None:
        schema = SCHEMAS[path]
        assert schema.get("title")
        assert schema.get("description")
        missing = [
            pointer
            for pointer, sub in subschemas(schema)
            if isinstance(sub, dict) and not sub.get("description")
        ]
        assert not missing, f"{path}: no description at {missing}"

    def test_every_ref_resolves_through_the_registry(self, path: str) -> None:
        schema = SCHEMAS[path]
        resolver = canaux_schemas.registry().resolver(base_uri=schema["$id"])
        found = list(refs(schema))
        assert found, f"{path} uses no $ref: the walk found nothing to resolve"
        for ref in found:
            resolved = resolver.lookup(ref).contents
            assert isinstance(resolved, dict), ref


def test_registry_holds_every_schema_under_its_id() -> None:
    registry = canaux_schemas.registry()
    for path, schema in SCHEMAS.items():
        assert registry.contents(canaux_schemas.schema_id(path)) == schema


def test_the_walk_finds_a_missing_description() -> None:
    """The description walk must see a property nested in a definition."""
    broken = copy.deepcopy(FRAME)
    del broken["$defs"]["limits"]["properties"]["max_rate"]["description"]
    assert [p for p, s in subschemas(broken) if not s.get("description")] == [
        "/$defs/limits/properties/max_rate"
    ]


class TestFrameUnion:
    """frame.json: one union discriminated by ``type`` (spec frames.md)."""

    def test_union_lists_every_frame_type_once(self) -> None:
        assert [b["$ref"] for b in FRAME["oneOf"]] == [f"#/$defs/{t}" for t in FRAME_TYPES]

    @pytest.mark.parametrize("frame_type", FRAME_TYPES)
    def test_each_definition_is_discriminated_by_a_type_const(self, frame_type: str) -> None:
        definition = FRAME["$defs"][frame_type]
        assert definition["properties"]["type"]["const"] == frame_type
        assert "type" in definition["required"]

    @pytest.mark.parametrize("frame_type", FRAME_TYPES)
    def test_examples_match_exactly_one_frame_definition(self, frame_type: str) -> None:
        for example in FRAME["$defs"][frame_type]["examples"]:
            matching = [t for t in FRAME_TYPES if frame_def(t).is_valid(example)]
            assert matching == [frame_type]

    @pytest.mark.parametrize("frame_type", FRAME_TYPES)
    def test_unknown_members_are_allowed_on_frames(self, frame_type: str) -> None:
        """[TRANSPORT-7] receivers ignore unknown members: the schemas must accept them."""
        example = dict(FRAME["$defs"][frame_type]["examples"][0], x_future={"a": [1]})
        assert validator(canaux_schemas.FRAME_SCHEMA_ID).is_valid(example)

    def test_unknown_members_are_allowed_in_nested_objects(self) -> None:
        welcome = copy.deepcopy(FRAME["$defs"]["welcome"]["examples"][0])
        welcome["limits"]["max_streams"] = 4
        welcome["channels"][0]["priority"] = "high"
        hello = {"type": "hello", "version": 1, "resume": {"session": "A" * 22, "seq": 0, "h": 1}}
        assert frame_def("welcome").is_valid(welcome)
        assert frame_def("hello").is_valid(hello)

    def test_client_and_server_unions(self) -> None:
        client = {b["$ref"] for b in FRAME["$defs"]["client_frame"]["oneOf"]}
        server = {b["$ref"] for b in FRAME["$defs"]["server_frame"]["oneOf"]}
        names = {"hello", "subscribe", "unsubscribe", "publish", "ping", "pong"}
        assert client == {f"#/$defs/{t}" for t in names}
        names = {"welcome", "ack", "error", "event", "ping", "pong"}
        assert server == {f"#/$defs/{t}" for t in names}
        assert not frame_def("client_frame").is_valid({"type": "event", "seq": 1, "channel": "a"})
        assert not frame_def("server_frame").is_valid({"type": "hello", "version": 1})


WELCOME = FRAME["$defs"]["welcome"]["examples"][0]

# (definition, instance, accepted): each row pins one bound or rule of the contract.
CONSTRAINTS: list[tuple[str, Any, bool]] = [
    # [CHANNEL-1] channel name grammar
    ("channel_name", "chat", True),
    ("channel_name", "conformance.a-b_c.0", True),
    ("channel_name", "a" * 128, True),
    ("channel_name", "a" * 129, False),
    ("channel_name", "Chat", False),
    ("channel_name", "_chat", False),
    ("channel_name", "chat.", False),
    ("channel_name", "a..b", False),
    ("channel_name", "conformance.*", False),
    ("channel_name", "", False),
    # catalogue names: a channel or a family; CHANNEL-6 reserves `canaux`
    ("catalogue_name", "conformance.*", True),
    ("catalogue_name", "canaux", False),
    ("catalogue_name", "canaux.meta", False),
    ("catalogue_name", "canauxx", True),
    ("catalogue_name", "*", False),
    ("catalogue_name", "a.*.b", False),
    # frame ids
    ("frame_id", "A-z.0:_" + "x" * 57, True),
    ("frame_id", "x" * 65, False),
    ("frame_id", "", False),
    ("frame_id", "c 1", False),
    ("frame_id", 1, False),
    # [HANDSHAKE-8] session ids: base64url, 22..128
    ("session_id", "A" * 22, True),
    ("session_id", "A" * 21, False),
    ("session_id", "-_" * 64, True),
    ("session_id", "A" * 129, False),
    ("session_id", "A" * 21 + "=", False),
    # error registry
    ("error_code", "invalid_payload", True),
    ("error_code", "agent_failed", False),
    # JSON pointers (RFC 6901)
    ("json_pointer", "", True),
    ("json_pointer", "/data/a~1b/0", True),
    ("json_pointer", "data", False),
    ("json_pointer", "/a~2", False),
    # [LIMIT-1] lower bounds, integers only
    ("limits", WELCOME["limits"], True),
    ("limits", dict(WELCOME["limits"], max_frame_bytes=4095), False),
    ("limits", dict(WELCOME["limits"], max_subscriptions=7), False),
    ("limits", dict(WELCOME["limits"], max_rate=9), False),
    ("limits", dict(WELCOME["limits"], resume_buffer=0), False),
    ("limits", dict(WELCOME["limits"], resume_window_ms=-1), False),
    ("limits", dict(WELCOME["limits"], max_rate=10.5), False),
    ("limits", {k: v for k, v in WELCOME["limits"].items() if k != "resume_buffer"}, False),
    # [HANDSHAKE-9] welcome carries everything; heartbeat bounds
    ("welcome", dict(WELCOME, heartbeat_ms=1000), True),
    ("welcome", dict(WELCOME, heartbeat_ms=300000), True),
    ("welcome", dict(WELCOME, heartbeat_ms=999), False),
    ("welcome", dict(WELCOME, heartbeat_ms=300001), False),
    ("welcome", dict(WELCOME, channels=[]), True),
    ("welcome", dict(WELCOME, seq=-1), False),
    ("welcome", dict(WELCOME, resumed="false"), False),
    ("welcome", {k: v for k, v in WELCOME.items() if k != "channels"}, False),
    (
        "welcome",
        dict(WELCOME, channels=[{"name": "chat", "publish": "anyone", "schema": "x:y"}]),
        False,
    ),
    # seq: >= 1 on events
    ("event", {"type": "event", "seq": 1, "channel": "a", "data": None}, True),
    ("event", {"type": "event", "seq": 0, "channel": "a", "data": None}, False),
    ("event", {"type": "event", "seq": 1, "channel": "a"}, False),
    # error frames: code and message required; id is whatever string the client sent (OPS-8)
    (
        "error",
        {"type": "error", "code": "bad_frame", "message": "", "id": "x y!", "pointer": ""},
        True,
    ),
    # the pointer is required for the codes about a member of the frame
    ("error", {"type": "error", "code": "bad_frame", "message": "m"}, False),
    ("error", {"type": "error", "code": "invalid_command", "message": "m"}, False),
    (
        "error",
        {"type": "error", "code": "invalid_payload", "message": "m", "pointer": "/data"},
        True,
    ),
    ("error", {"type": "error", "code": "unknown_channel", "message": "m"}, True),
    ("error", {"type": "error", "code": "bad_frame"}, False),
    ("error", {"type": "error", "code": "nope", "message": "m"}, False),
    ("error", {"type": "error", "code": "bad_frame", "message": "m", "pointer": "x"}, False),
    # ping nonce <= 64
    ("ping", {"type": "ping", "nonce": "n" * 64}, True),
    ("pong", {"type": "pong", "nonce": "n" * 65}, False),
    # hello
    ("hello", {"type": "hello", "version": 2}, True),
    ("hello", {"type": "hello", "version": 0}, False),
    ("hello", {"type": "hello", "version": 1, "token": "t" * 4096}, True),
    ("hello", {"type": "hello", "version": 1, "token": "t" * 4097}, False),
    ("hello", {"type": "hello", "version": 1, "resume": {"session": "A" * 22}}, False),
    ("publish", {"type": "publish", "id": "c", "channel": "a", "data": None}, True),
]


@pytest.mark.parametrize(("definition", "instance", "accepted"), CONSTRAINTS)
def test_frame_constraints(definition: str, instance: Any, accepted: bool) -> None:
    assert frame_def(definition).is_valid(instance) is accepted


def channel(name: str, definition: str) -> Draft202012Validator:
    return validator(f"{canaux_schemas.CHANNEL_SCHEMAS[name]}#/$defs/{definition}")


STANDARD_CATALOGUE = {entry["name"]: entry for entry in WELCOME["channels"]}


@pytest.mark.parametrize("name", sorted(canaux_schemas.CHANNEL_SCHEMAS))
def test_channel_schema_has_publish_exactly_when_clients_may_publish(name: str) -> None:
    """[CHANNEL-4] server-only channels define no publish schema."""
    schema = canaux_schemas.load(f"channels/{name}.json")
    entry = STANDARD_CATALOGUE[name if name != "conformance" else "conformance.*"]
    assert entry["schema"] == schema["$id"]
    assert ("publish" in schema["$defs"]) is (entry["publish"] == "client")
    assert "event" in schema["$defs"]


@pytest.mark.parametrize("name", sorted(set(canaux_schemas.CHANNEL_SCHEMAS) - {"conformance"}))
def test_standard_channel_payloads_are_strict(name: str) -> None:
    """Standard channel payloads refuse unknown members (TRANSPORT-7 leaves it to channels)."""
    schema = canaux_schemas.load(f"channels/{name}.json")
    for definition in ("publish", "event"):
        if definition in schema["$defs"]:
            check = channel(name, definition)
            for example in schema["$defs"][definition]["examples"]:
                assert check.is_valid(example)
                assert not check.is_valid(dict(example, x_unknown=1))


def test_conformance_payload_is_any_object() -> None:
    """[CONF-1] conformance.* carries any JSON object; only a present `mark` is constrained."""
    check = channel("conformance", "publish")
    assert check.is_valid({"x": 1})
    assert check.is_valid({"mark": "m-1", "body": [1, None], "extra": {"deep": True}})
    assert not check.is_valid({"mark": ""})
    assert not check.is_valid(["not", "an", "object"])


CHANNEL_CONSTRAINTS: list[tuple[str, str, Any, bool]] = [
    ("chat", "publish", {"type": "message", "text": "x" * 16000}, True),
    ("chat", "publish", {"type": "message", "text": "x" * 16001}, False),
    ("chat", "publish", {"type": "message", "text": ""}, False),
    ("chat", "event", {"type": "chunk", "request": "c3", "index": -1, "text": "x"}, False),
    ("chat", "event", {"type": "done", "request": "c3", "chunks": 0}, True),
    (
        "chat",
        "event",
        {"type": "error", "request": "c3", "code": "agent_timeout", "message": ""},
        True,
    ),
    (
        "chat",
        "event",
        {"type": "error", "request": "c3", "code": "bad_frame", "message": ""},
        False,
    ),
    ("playqueue", "publish", {"op": "play"}, True),
    ("playqueue", "publish", {"op": "play", "index": 0, "if_version": 0}, True),
    ("playqueue", "publish", {"op": "remove", "index": 1.5}, False),
    ("playqueue", "publish", {"op": "move", "from": 0, "to": 1, "index": 2}, False),
    ("playqueue", "publish", {"op": "clear", "if_version": -1}, False),
    ("playqueue", "publish", {"op": "add", "track": {"id": "", "title": "t"}}, False),
    ("playqueue", "event", {"type": "state", "version": 0, "items": [], "current": None}, False),
    (
        "playqueue",
        "event",
        {"type": "state", "version": 1, "items": [], "current": -1, "playing": False},
        False,
    ),
    ("system", "event", {"level": "notice", "text": "x"}, False),
    ("system", "event", {"level": "info", "text": "x", "ts": "2026-11-26T12:00:00.5+01:00"}, True),
    ("system", "event", {"level": "info", "text": "x", "ts": "26 Nov 2026"}, False),
    ("system", "event", {"level": "info", "text": ""}, False),
    ("progress", "event", {"task": "t", "kind": "scan", "status": "done", "current": 1}, False),
    (
        "progress",
        "event",
        {"task": "t", "kind": "Scan", "status": "done", "current": 1, "total": 1},
        False,
    ),
    (
        "progress",
        "event",
        {"task": "t", "kind": "scan", "status": "paused", "current": 1, "total": 1},
        False,
    ),
    ("conformance", "publish", {"mark": "m" * 64, "body": [None]}, True),
    ("conformance", "publish", {"mark": ""}, False),
    ("conformance", "event", {"body": 1}, True),
    ("conformance", "event", "text", False),
]


@pytest.mark.parametrize(("name", "definition", "instance", "accepted"), CHANNEL_CONSTRAINTS)
def test_channel_constraints(name: str, definition: str, instance: Any, accepted: bool) -> None:
    assert channel(name, definition).is_valid(instance) is accepted


@pytest.mark.parametrize("name", sorted(canaux_schemas.CHANNEL_SCHEMAS))
def test_channel_file_validates_the_data_of_its_channel(name: str) -> None:
    schema = canaux_schemas.load(f"channels/{name}.json")
    whole = validator(schema["$id"])
    for definition in ("publish", "event"):
        for example in schema["$defs"].get(definition, {}).get("examples", []):
            assert whole.is_valid(example)
    # Standard channels are strict; the conformance family carries any object (CONF-1).
    assert whole.is_valid({"x_unknown": True}) is (name == "conformance")
    assert not whole.is_valid("not an object")
