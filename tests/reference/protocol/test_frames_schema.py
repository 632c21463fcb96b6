"""The frame models accept exactly what schemas/frame.json accepts (spec frames.md).

Values come from the schemas themselves (hypothesis-jsonschema), valid ones and mutated
ones; for every value the pydantic models and ``jsonschema`` must give the same verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from pydantic import BaseModel, ValidationError

import canaux_schemas
from canaux.protocol import frames, ijson

FRAME = canaux_schemas.load("frame.json")

# Every frame type def, the two unions, and the member objects that have a model.
FRAME_DEFS = [
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
]
MEMBER_MODELS: dict[str, type[BaseModel]] = {
    "limits": frames.Limits,
    "catalogue_entry": frames.CatalogueEntry,
    "resume": frames.ResumeRequest,
}
ALL_DEFS = [*FRAME_DEFS, "client_frame", "server_frame", *MEMBER_MODELS, "frame"]

# Values a mutation puts in place of a member: every JSON type, the integer/float/boolean
# corner cases, numbers around the schema bounds, strings that break the patterns.
REPLACEMENTS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    1.0,
    1.5,
    7.0,
    999,
    1000,
    4095,
    4096,
    300000,
    300001,
    2**70,
    "",
    "x",
    "A B",
    "UPPER",
    "a\n",
    "canaux",
    "canaux.x",
    "conformance.*",
    "a" * 21,
    "a" * 22,
    "a" * 65,
    "a" * 129,
    "/data/~2",
    "urn:x",
    "hello",
    "event",
    "bad_frame",
    "nope",
    "client",
    [],
    [1],
    {},
    {"session": "s" * 22, "seq": 0},
]


def schema_for(name: str) -> dict[str, Any]:
    """A self-contained schema for one def: the whole ``$defs`` embedded, so refs resolve."""
    if name == "frame":
        whole: dict[str, Any] = FRAME
        return whole
    return {"$schema": FRAME["$schema"], "$defs": FRAME["$defs"], "$ref": f"#/$defs/{name}"}


VALIDATORS = {name: jsonschema.Draft202012Validator(schema_for(name)) for name in ALL_DEFS}


def model_accepts(name: str, value: Any) -> bool:
    """The verdict of the reference models for ``value`` as def ``name``."""
    parse: Callable[[object], object]
    if name in MEMBER_MODELS:
        try:
            MEMBER_MODELS[name].model_validate(value)
        except ValidationError:
            return False
        return True
    if name == "client_frame":
        parse = frames.parse_client_frame
    elif name == "server_frame":
        parse = frames.parse_server_frame
    else:
        parse = frames.parse_frame
    try:
        frame = parse(value)
    except frames.FrameError:
        return False
    # A single def accepts only its own type (the defs are told apart by `type`).
    return name not in FRAME_DEFS or getattr(frame, "type", None) == name


def assert_agree(name: str, value: Any) -> None:
    valid = VALIDATORS[name].is_valid(value)
    note(f"{name}: {value!r} -> schema says {'valid' if valid else 'invalid'}")
    assert model_accepts(name, value) is valid


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside ``value`` (the root excluded), depth first."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(paths(item, (*prefix, index)))
    return found


def mutate(value: Any, path: tuple[Any, ...], how: str, replacement: Any) -> Any:
    """A copy of ``value`` with the member at ``path`` dropped or replaced."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if not rest and how == "drop":
            del copy[head]
        else:
            copy[head] = mutate(value[head], rest, how, replacement)
        return copy
    items = list(value)
    if not rest and how == "drop":
        del items[head]
    else:
        items[head] = mutate(items[head], rest, how, replacement)
    return items


SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("name", ALL_DEFS)
class TestModelsAgreeWithFrameSchema:
    """[TRANSPORT-7] [OPS-8] the models and schemas/frame.json never disagree."""

    def test_every_value_generated_from_the_schema_is_accepted(self, name: str) -> None:
        @SETTINGS
        @given(from_schema(schema_for(name)))
        def check(value: Any) -> None:
            assert VALIDATORS[name].is_valid(value)
            assert model_accepts(name, value)

        check()

    def test_mutated_values_get_the_same_verdict_from_models_and_schema(self, name: str) -> None:
        @settings(SETTINGS, max_examples=120)
        @given(from_schema(schema_for(name)), st.data())
        def check(value: Any, data: st.DataObject) -> None:
            locations = paths(value)
            path = data.draw(st.sampled_from([(), *locations]), label="path")
            how = data.draw(st.sampled_from(["drop", "replace"]), label="how") if path else "x"
            replacement = data.draw(st.sampled_from(REPLACEMENTS), label="replacement")
            assert_agree(name, mutate(value, path, how, replacement))

        check()


def _is_i_json(value: Any) -> bool:
    # The schema lets data hold any JSON; a frame is also I-JSON [TRANSPORT-17], so values the
    # door refuses (an integer beyond 2**53 - 1, a noncharacter) are not frames to round-trip.
    try:
        ijson.loads(json.dumps(value))
    except ValueError:
        return False
    return True


class TestEncodingRoundTrips:
    """encode() writes frames the schema accepts, and parsing them gives the same frame."""

    @SETTINGS
    @given(from_schema(schema_for("frame")).filter(_is_i_json))
    def test_encoded_frame_is_valid_and_parses_back_to_the_same_frame(self, value: Any) -> None:
        frame = frames.parse_frame(value)
        text = frames.encode(frame)
        decoded = frames.decode_json(text)
        assert VALIDATORS["frame"].is_valid(decoded)
        assert frames.parse_frame(decoded) == frame
