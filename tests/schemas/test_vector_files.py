"""The language-neutral test vectors (schemas/vectors/*.json) agree with schemas and contract.

Each vector file must validate against ``vector.json``; each vector's verdict must agree with the
schema it names (a valid vector is accepted; an invalid one is rejected unless it says
``schema_valid: true``, i.e. it is refused for a reason no schema can see); its schema must be
the one its stage and sender call for; what it expects must follow from its input (close codes
from the kind of input, error ids and pointers from the frame, catalogue errors from the
standard catalogue). The vectors together must cover every frame type, every close code given
to bad input and every error code a single frame can cause.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing.jsonschema import SchemaRegistry

import canaux_schemas

__all__: list[str] = []

BASE = canaux_schemas.SCHEMA_BASE_URI
FILES = canaux_schemas.vectors()
VECTORS = [vector for document in FILES for vector in document["vectors"]]
VECTOR_SCHEMA = canaux_schemas.load("vector.json")
STANDARD_CATALOGUE: list[dict[str, Any]] = VECTOR_SCHEMA["$defs"]["standard_catalogue"]["const"]
STANDARD_LIMITS: dict[str, int] = VECTOR_SCHEMA["$defs"]["standard_limits"]["const"]
OVERSIZE_TEMPLATE: dict[str, Any] = VECTOR_SCHEMA["$defs"]["oversize_template"]["const"]
FRAME_INPUT = [v for v in VECTORS if "frame" in v]


def registry() -> SchemaRegistry:
    loaded: SchemaRegistry = canaux_schemas.registry()
    return loaded


def validator(uri: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": uri}, registry=registry())


def resolve(document: Any, pointer: str) -> tuple[bool, Any]:
    """RFC 6901 lookup: (found, value)."""
    node = document
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False, None
    return True, node


def catalogue_entry(channel: str) -> dict[str, Any] | None:
    """[CHANNEL-2] exact names first, then families ``p.*`` (needs one more segment)."""
    for entry in STANDARD_CATALOGUE:
        if entry["name"] == channel:
            return entry
    for entry in STANDARD_CATALOGUE:
        prefix = entry["name"][:-1]
        if entry["name"].endswith(".*") and channel.startswith(prefix) and channel != prefix:
            return entry
    return None


def oversize_text(size: int) -> str:
    """The text an ``oversize_bytes`` vector stands for (vector.json#/$defs/oversize_template)."""
    bare = json.dumps(OVERSIZE_TEMPLATE, separators=(",", ":"))
    padding = size - len(bare.encode())
    assert padding >= 0, f"{size} bytes is smaller than the template"
    return json.dumps(dict(OVERSIZE_TEMPLATE, pad="x" * padding), separators=(",", ":"))


def strict_json(text: str) -> Any:
    """Parse RFC 8259 JSON only: Python's extensions (NaN, Infinity) are refused."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def test_there_are_vector_files() -> None:
    names = {document["title"] for document in FILES}
    assert len(FILES) >= 6, names


@pytest.mark.parametrize("document", FILES, ids=[d["title"] for d in FILES])
def test_vector_file_validates_against_vector_json(document: dict[str, Any]) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(BASE + "vector.json").iter_errors(document)
    ]
    assert not errors


def test_vector_names_are_unique_across_files() -> None:
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_requirement_ids_exist_in_the_spec_index() -> None:
    try:
        index = {entry["id"] for entry in canaux_schemas.requirements()}
    except FileNotFoundError:
        pytest.skip("schemas/requirements.json is not generated yet")
    cited = {r for v in VECTORS for r in v["requirements"]}
    assert cited <= index, sorted(cited - index)


@pytest.mark.parametrize("vector", FRAME_INPUT, ids=ids(FRAME_INPUT))
def test_verdict_agrees_with_the_schema(vector: dict[str, Any]) -> None:
    """Valid vectors pass their schema; invalid ones fail it unless ``schema_valid`` says so."""
    found, instance = resolve(vector["frame"], vector.get("schema_at", ""))
    accepted = found and validator(vector["schema"]).is_valid(instance)
    expected = vector["valid"] or vector.get("schema_valid", False)
    assert accepted is expected


@pytest.mark.parametrize("vector", FRAME_INPUT, ids=ids(FRAME_INPUT))
def test_schema_is_the_one_stage_and_sender_call_for(vector: dict[str, Any]) -> None:
    schema, at = vector["schema"], vector.get("schema_at", "")
    frame = vector["frame"]
    if vector.get("stage") == "legacy":
        expected = f"{BASE}legacy.json#/$defs/client_frame"
    elif vector["sender"] == "server" and vector["schema"].startswith(BASE + "legacy.json"):
        expected = f"{BASE}legacy.json#/$defs/server_frame"
    elif at == "/data":
        # a channel payload: the envelope itself is a well-formed frame of the sender
        envelope = "client_frame" if vector["sender"] == "client" else "server_frame"
        assert validator(f"{BASE}frame.json#/$defs/{envelope}").is_valid(frame)
        entry = catalogue_entry(frame["channel"])
        assert entry is not None
        definition = "publish" if vector["sender"] == "client" else "event"
        expected = f"{entry['schema']}#/$defs/{definition}"
        assert vector.get("catalogue") == "standard"
    elif vector["sender"] == "server":
        expected = f"{BASE}frame.json#/$defs/server_frame"
    elif vector["stage"] == "before_hello":
        expected = f"{BASE}frame.json#/$defs/hello"
    else:
        expected = f"{BASE}frame.json#/$defs/client_frame"
    assert (schema, at in ("", "/data")) == (expected, True)


ERROR_VECTORS = [v for v in VECTORS if "error" in v.get("expect", {})]


@pytest.mark.parametrize("vector", ERROR_VECTORS, ids=ids(ERROR_VECTORS))
def test_error_carries_the_frame_id_and_a_pointer_into_it(vector: dict[str, Any]) -> None:
    """[OPS-8] the error names the frame's string id; its pointer designates a member of it."""
    expect, frame = vector["expect"], vector["frame"]
    assert vector["stage"] == "after_hello"
    if isinstance(frame.get("id"), str):
        assert expect.get("id") == frame["id"]
    else:
        assert "id" not in expect
    if expect["error"] in ("bad_frame", "invalid_payload"):
        assert "pointer" in expect or expect["error"] == "invalid_payload"
    if "pointer" in expect:
        parent = expect["pointer"].rsplit("/", 1)[0]
        assert resolve(frame, parent)[0], f"{expect['pointer']} is not inside the frame"
        if expect["error"] == "invalid_payload":
            assert expect["pointer"].startswith("/data")


@pytest.mark.parametrize("vector", ERROR_VECTORS, ids=ids(ERROR_VECTORS))
def test_catalogue_errors_follow_from_the_standard_catalogue(vector: dict[str, Any]) -> None:
    """[CHANNEL-3] unknown names, [CHANNEL-4] server-only channels, against the catalogue named."""
    frame, code = vector["frame"], vector["expect"]["error"]
    if code == "bad_frame":
        return
    assert vector.get("catalogue") == "standard"
    entry = catalogue_entry(frame["channel"])
    if code == "unknown_channel":
        assert entry is None
    else:
        assert entry is not None
        if frame["type"] == "publish":
            assert (code == "forbidden") is (entry["publish"] == "server")
        else:
            assert code != "forbidden"


PUBLISHES = [
    v
    for v in VECTORS
    if v["sender"] == "client" and isinstance(v.get("frame"), dict) and v["valid"]
]


@pytest.mark.parametrize("vector", PUBLISHES, ids=ids(PUBLISHES))
def test_accepted_operations_name_a_channel_of_the_catalogue(vector: dict[str, Any]) -> None:
    frame = vector["frame"]
    if frame.get("type") not in ("subscribe", "unsubscribe", "publish"):
        return
    entry = catalogue_entry(frame["channel"])
    assert entry is not None
    assert vector.get("catalogue") == "standard"
    if frame["type"] == "publish":
        assert entry["publish"] == "client"


def input_kind(vector: dict[str, Any]) -> str:
    """What arrives: binary, non-JSON text, JSON that is not an object, oversize, or an object."""
    if "binary_base64" in vector:
        base64.b64decode(vector["binary_base64"], validate=True)
        return "binary"
    if "oversize_bytes" in vector:
        oversize = vector["oversize_bytes"] > STANDARD_LIMITS["max_frame_bytes"]
        return "oversize" if oversize else "object"
    if "text" in vector:
        try:
            value = strict_json(vector["text"])
        except ValueError:
            return "not_json"
    else:
        value = vector["frame"]
    return "object" if isinstance(value, dict) else "not_object"


CLIENT_VECTORS = [v for v in VECTORS if v["sender"] == "client" and v["stage"] != "legacy"]


@pytest.mark.parametrize("vector", CLIENT_VECTORS, ids=ids(CLIENT_VECTORS))
def test_close_code_follows_from_the_input(vector: dict[str, Any]) -> None:
    """[TRANSPORT-4..6] the transport codes; [HANDSHAKE-4..6] the handshake codes."""
    kind = input_kind(vector)
    close = vector.get("expect", {}).get("close")
    by_kind = {"binary": 1003, "not_json": 1007, "not_object": 1007, "oversize": 1009}
    if kind in by_kind:
        assert close == by_kind[kind]
    elif vector["stage"] == "before_hello":
        frame = vector["frame"]
        if vector["valid"]:
            assert vector["expect"] == {"reply": "welcome"}
        elif vector.get("schema_valid"):
            assert (frame["version"], close) == (2, 4406)
        else:
            assert close == 4400
    elif close is not None:
        assert (vector["frame"]["type"], close) == ("hello", 4409)


@pytest.mark.parametrize("vector", CLIENT_VECTORS, ids=ids(CLIENT_VECTORS))
def test_accepted_input_is_answered_as_its_type_requires(vector: dict[str, Any]) -> None:
    """[OPS-1] operations get an ack; [HEARTBEAT-2] a ping gets a pong; a pong needs nothing."""
    if not vector["valid"]:
        return
    if "oversize_bytes" in vector:
        frame = json.loads(oversize_text(vector["oversize_bytes"]))
    elif "text" in vector:
        frame = strict_json(vector["text"])
    else:
        frame = vector["frame"]
    uri = "hello" if vector["stage"] == "before_hello" else "client_frame"
    assert validator(f"{BASE}frame.json#/$defs/{uri}").is_valid(frame)
    replies = {"hello": "welcome", "ping": "pong", "pong": "none"}
    assert vector["expect"] == {"reply": replies.get(frame["type"], "ack")}


OVERSIZE = [v for v in VECTORS if "oversize_bytes" in v]


@pytest.mark.parametrize("vector", OVERSIZE, ids=ids(OVERSIZE))
def test_oversize_input_has_the_stated_size(vector: dict[str, Any]) -> None:
    """[TRANSPORT-6] the padded text is exactly ``oversize_bytes`` UTF-8 bytes of a valid ping."""
    text = oversize_text(vector["oversize_bytes"])
    assert len(text.encode()) == vector["oversize_bytes"]
    assert validator(f"{BASE}frame.json#/$defs/ping").is_valid(json.loads(text))
    assert vector["valid"] is (vector["oversize_bytes"] <= STANDARD_LIMITS["max_frame_bytes"])


def test_standard_catalogue_and_limits_are_those_of_the_contract_welcome() -> None:
    welcome = canaux_schemas.load("frame.json")["$defs"]["welcome"]["examples"][0]
    assert welcome["channels"] == STANDARD_CATALOGUE
    assert welcome["limits"] == STANDARD_LIMITS
    catalogued = {entry["schema"] for entry in STANDARD_CATALOGUE}
    assert catalogued == set(canaux_schemas.CHANNEL_SCHEMAS.values())


LEGACY = [v for v in VECTORS if "legacy.json" in v.get("schema", "") or v.get("stage") == "legacy"]


def legacy_outcome(vector: dict[str, Any]) -> dict[str, Any]:
    """What LEGACY-2, -3, -5 and -7 make a legacy endpoint do with the vector's input."""
    kind = input_kind(vector)
    if kind == "binary":
        return {"close": 1003}
    if kind in ("not_json", "not_object"):
        return {"close": 1007}
    frame = vector["frame"]
    if frame == {"type": "ping"}:
        return {"reply": "pong"}
    if vector["endpoint"] == "/api/ws":
        return {"legacy_error": "forbidden"}
    if "message" in frame and "data" not in frame:
        data: Any = {"type": "message", "text": frame["message"]}
    elif "data" in frame and frame.get("channel", "chat") == "chat":
        data = frame["data"]
    else:
        return {"legacy_error": "bad_frame"}
    accepted = validator(f"{BASE}channels/chat.json#/$defs/publish").is_valid(data)
    return {"reply": "event"} if accepted else {"legacy_error": "bad_frame"}


@pytest.mark.parametrize("vector", LEGACY, ids=ids(LEGACY))
def test_legacy_outcome_follows_from_the_legacy_rules(vector: dict[str, Any]) -> None:
    """[LEGACY-1..7] client inputs get the answer the rules give; server frames carry valid data."""
    if vector["sender"] == "server":
        frame = vector["frame"]
        if "channel" in frame:
            entry = catalogue_entry(frame["channel"])
            assert entry is not None
            assert validator(f"{entry['schema']}#/$defs/event").is_valid(frame["data"])
        return
    assert vector["expect"] == legacy_outcome(vector)
    assert vector["valid"] is ("reply" in vector["expect"])


class TestCoverage:
    def test_every_frame_type_has_a_valid_vector(self) -> None:
        sent = {
            (v["sender"], v["frame"]["type"])
            for v in FRAME_INPUT
            if v["valid"] and isinstance(v["frame"], dict) and "type" in v["frame"]
        }
        client = {"hello", "subscribe", "unsubscribe", "publish", "ping", "pong"}
        server = {"welcome", "ack", "error", "event", "ping", "pong"}
        assert {t for s, t in sent if s == "client"} == client
        assert {t for s, t in sent if s == "server"} == server

    def test_every_close_code_for_bad_input_is_exercised(self) -> None:
        codes = {v["expect"]["close"] for v in VECTORS if "close" in v.get("expect", {})}
        assert codes >= {1003, 1007, 1009, 4400, 4406, 4409}

    def test_every_error_code_a_frame_can_cause_is_exercised(self) -> None:
        codes = {v["expect"]["error"] for v in ERROR_VECTORS}
        registry_codes = set(canaux_schemas.load("frame.json")["$defs"]["error_code"]["enum"])
        # internal_error is the server failing, never a property of the frame it was given
        assert codes == registry_codes - {"internal_error"}

    def test_each_standard_channel_has_payload_vectors_both_ways(self) -> None:
        payload = [v for v in FRAME_INPUT if v.get("schema_at") == "/data"]
        for name, uri in canaux_schemas.CHANNEL_SCHEMAS.items():
            used = {(v["valid"], v["schema"]) for v in payload if v["schema"].startswith(uri)}
            assert (True, f"{uri}#/$defs/event") in used, name
            if "publish" in canaux_schemas.load(f"channels/{name}.json")["$defs"]:
                assert (True, f"{uri}#/$defs/publish") in used, name
                assert (False, f"{uri}#/$defs/publish") in used, name


BASE_VECTOR: dict[str, Any] = VECTOR_SCHEMA["$defs"]["vector"]["examples"][0]


def without(vector: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in vector.items() if k not in names}


# Each row breaks one rule that vector.json states about a vector's shape.
MALFORMED_VECTORS: list[tuple[str, dict[str, Any]]] = [
    ("two inputs", dict(BASE_VECTOR, text="{}")),
    ("no input", without(BASE_VECTOR, "frame", "schema")),
    ("invalid without expect", without(BASE_VECTOR, "expect")),
    ("refusal expected of a valid input", dict(BASE_VECTOR, valid=True)),
    ("acceptance expected of an invalid input", dict(BASE_VECTOR, expect={"reply": "ack"})),
    (
        "schema_valid on a valid vector",
        dict(BASE_VECTOR, valid=True, expect={"reply": "ack"}, schema_valid=True),
    ),
    ("frame without schema", without(BASE_VECTOR, "schema")),
    ("schema without frame", dict(without(BASE_VECTOR, "frame"), text="{}")),
    ("client vector without stage", without(BASE_VECTOR, "stage")),
    ("server vector with a stage", dict(BASE_VECTOR, sender="server", valid=True)),
    (
        "server vector that is invalid",
        without(dict(BASE_VECTOR, sender="server"), "stage", "expect"),
    ),
    ("legacy stage without endpoint", dict(BASE_VECTOR, stage="legacy")),
    ("endpoint outside legacy", dict(BASE_VECTOR, endpoint="/ws/chat")),
    ("setup before hello", dict(BASE_VECTOR, stage="before_hello", setup=[])),
    (
        "oversize without limits",
        dict(without(BASE_VECTOR, "frame", "schema"), oversize_bytes=70000),
    ),
    ("unknown requirement prefix", dict(BASE_VECTOR, requirements=["FOO-1"])),
    ("unknown member", dict(BASE_VECTOR, note="x")),
    ("close code not for bad input", dict(BASE_VECTOR, expect={"close": 1000})),
    ("error code outside the registry", dict(BASE_VECTOR, expect={"error": "agent_failed"})),
]


def test_the_base_vector_is_well_formed() -> None:
    assert validator(f"{BASE}vector.json#/$defs/vector").is_valid(BASE_VECTOR)


@pytest.mark.parametrize(
    ("rule", "vector"), MALFORMED_VECTORS, ids=[r for r, _ in MALFORMED_VECTORS]
)
def test_vector_json_refuses_a_malformed_vector(rule: str, vector: dict[str, Any]) -> None:
    assert not validator(f"{BASE}vector.json#/$defs/vector").is_valid(vector), rule
