"""Generating data from every definition (spec "Schema files"): the schemas stay generatable.

The conformance suite and the reference tests draw frames and payloads from these schemas
with hypothesis-jsonschema, which cannot follow remote references nor handle every 2020-12
keyword. Each ``$defs`` entry of the frame, channel and legacy schemas is turned into a
self-contained schema (the file's ``$defs`` alongside a local ``$ref``), a few instances are
drawn from it, and every instance must validate against the published schema.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

import canaux_schemas

__all__: list[str] = []

# vector.json describes test data, not wire data: nothing generates from it.
GENERATED_FILES = ["frame.json", "legacy.json"] + [
    f"channels/{name}.json" for name in sorted(canaux_schemas.CHANNEL_SCHEMAS)
]
DEFINITIONS = [
    (path, name) for path in GENERATED_FILES for name in canaux_schemas.load(path)["$defs"]
]


def standalone(path: str, name: str) -> dict[str, Any]:
    """The definition as a schema hypothesis-jsonschema can use: local refs only."""
    document = canaux_schemas.load(path)
    return {"$ref": f"#/$defs/{name}", "$defs": document["$defs"]}


@pytest.mark.parametrize(("path", "name"), DEFINITIONS, ids=[f"{p}#{n}" for p, n in DEFINITIONS])
def test_instances_generated_from_a_definition_validate(path: str, name: str) -> None:
    published = Draft202012Validator(
        {"$ref": f"{canaux_schemas.schema_id(path)}#/$defs/{name}"},
        registry=canaux_schemas.registry(),
    )
    drawn: list[Any] = []

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(from_schema(standalone(path, name)))
    def check(instance: Any) -> None:
        errors = [error.message for error in published.iter_errors(instance)]
        assert not errors, f"{instance!r}: {errors}"
        drawn.append(instance)

    check()
    assert drawn


@pytest.mark.parametrize("frame_type", ["hello", "subscribe", "publish", "event", "welcome"])
def test_generated_frames_carry_their_discriminator(frame_type: str) -> None:
    """A frame drawn from ``$defs/<type>`` is that type and nothing else in the union."""
    union = canaux_schemas.load("frame.json")["oneOf"]
    others = [b["$ref"].rsplit("/", 1)[1] for b in union if not b["$ref"].endswith(frame_type)]
    registry = canaux_schemas.registry()

    def matches(other: str, instance: Any) -> bool:
        uri = f"{canaux_schemas.FRAME_SCHEMA_ID}#/$defs/{other}"
        return Draft202012Validator({"$ref": uri}, registry=registry).is_valid(instance)

    @settings(max_examples=10, deadline=None, database=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        frame = data.draw(from_schema(standalone("frame.json", frame_type)))
        assert isinstance(frame, dict)
        assert frame["type"] == frame_type
        assert not [other for other in others if matches(other, frame)]

    check()
