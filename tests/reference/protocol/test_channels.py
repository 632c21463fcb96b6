"""Tests of canaux.protocol.channels: names, catalogue, payload validation
(spec channels.md, standard-channels.md)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import canaux_schemas
from canaux.protocol.channels import (
    STANDARD_CHANNELS,
    Catalogue,
    ChannelSpec,
    PayloadProblem,
    is_reserved,
    is_valid_channel_name,
)

CONFORMANCE_SCHEMA = canaux_schemas.CHANNEL_SCHEMAS["conformance"]
CATALOGUE = Catalogue.standard(conformance=True)


class TestChannelNames:
    """[CHANNEL-1] the grammar."""

    @pytest.mark.parametrize(
        "name", ["chat", "a", "0", "conformance.demo", "a-b_c.d0.e", "x" * 128]
    )
    def test_valid_names(self, name: str) -> None:
        assert is_valid_channel_name(name)

    @pytest.mark.parametrize(
        "name", ["", "Chat", ".a", "a.", "a..b", "-a", "a._b", "a b", "chat\n", "x" * 129, "a.*", 5]
    )
    def test_invalid_names(self, name: Any) -> None:
        assert not is_valid_channel_name(name)

    def test_names_under_canaux_are_reserved(self) -> None:
        """[CHANNEL-6]"""
        assert is_reserved("canaux")
        assert is_reserved("canaux.x")
        assert is_reserved("canaux.*")
        assert not is_reserved("canauxx")


class TestCatalogue:
    def test_standard_catalogue_lists_the_standard_channels(self) -> None:
        assert [e.name for e in Catalogue.standard()] == ["chat", "playqueue", "system", "progress"]
        assert [e.name for e in CATALOGUE][-1] == "conformance.*"

    def test_family_matches_names_with_at_least_one_more_segment(self) -> None:
        """[CHANNEL-2]"""
        family = STANDARD_CHANNELS["conformance.*"]
        assert CATALOGUE.lookup("conformance.demo") == family
        assert CATALOGUE.lookup("conformance.a.b") == family
        assert CATALOGUE.lookup("conformance") is None
        assert CATALOGUE.lookup("conformance.") is None
        assert CATALOGUE.lookup("conformance.*") is None
        assert CATALOGUE.lookup("conformancex.a") is None

    def test_exact_entry_wins_then_the_longest_family(self) -> None:
        """[CHANNEL-9]"""
        wide = ChannelSpec("app.*", "server", "urn:wide")
        narrow = ChannelSpec("app.room.*", "client", "urn:narrow")
        exact = ChannelSpec("app.room.lobby", "server", "urn:exact")
        catalogue = Catalogue([wide, narrow, exact])
        assert catalogue.lookup("app.room.lobby") == exact
        assert catalogue.lookup("app.room.kitchen") == narrow
        assert catalogue.lookup("app.room") == wide
        assert catalogue.lookup("app") is None

    def test_welcome_lists_every_entry(self) -> None:
        entries = CATALOGUE.to_welcome()
        assert [(e.name, e.publish, e.schema_) for e in entries] == [
            (e.name, e.publish, e.schema_id) for e in CATALOGUE
        ]

    @pytest.mark.parametrize(
        "entry",
        [
            ChannelSpec("canaux.x", "client", "urn:x"),
            ChannelSpec("canaux.*", "client", "urn:x"),
            ChannelSpec("Bad", "client", "urn:x"),
            ChannelSpec("chat", "server", canaux_schemas.CHANNEL_SCHEMAS["chat"]),
            ChannelSpec("conformance.only", "client", CONFORMANCE_SCHEMA),
        ],
    )
    def test_reserved_malformed_or_redefined_entries_are_refused(self, entry: ChannelSpec) -> None:
        """[CHANNEL-6] reserved names never listed; standard names keep their meaning."""
        with pytest.raises(ValueError, match=r"CHANNEL|standard|conformance"):
            Catalogue([entry])

    def test_duplicate_entries_are_refused(self) -> None:
        with pytest.raises(ValueError, match="twice"):
            Catalogue([STANDARD_CHANNELS["chat"], STANDARD_CHANNELS["chat"]])


class TestPayloadValidation:
    """[CHANNEL-5] invalid_payload carries a pointer into the frame, starting with /data."""

    @pytest.mark.parametrize(
        ("channel", "data", "problem"),
        [
            ("chat", {"type": "message"}, ("/data/text", "required")),
            ("chat", {"type": "message", "text": "m", "x": 1}, ("/data/x", "unexpected member")),
            ("conformance.x", {"mark": ""}, ("/data/mark", "too short")),
            ("conformance.x", [], ("/data", "must be of type object")),
            ("chat", {"type": "message", "text": 5}, ("/data/text", "must be of type string")),
            ("playqueue", {"op": "add"}, ("/data/track", "required")),
            ("playqueue", {"op": "move", "from": 0, "to": -1}, ("/data/to", "must be at least 0")),
            ("playqueue", {"op": "jump"}, ("/data/op", "not an allowed value")),
        ],
    )
    def test_failure_points_at_the_offending_value(
        self, channel: str, data: Any, problem: tuple[str, str]
    ) -> None:
        found = CATALOGUE.validate_publish(channel, data)
        assert found is not None
        assert tuple(found) == problem

    def test_pointer_escapes_member_names(self) -> None:
        """RFC 6901: "~" and "/" in a member name are escaped."""
        data = {"type": "message", "text": "m", "a/b~c": 1}
        found = CATALOGUE.validate_publish("chat", data)
        assert found == PayloadProblem("/data/a~1b~0c", "unexpected member")

    def test_valid_payloads_pass(self) -> None:
        assert CATALOGUE.validate_publish("conformance.x", {"mark": "m", "body": None}) is None
        assert CATALOGUE.validate_publish("conformance.x", {"x": 1}) is None  # [CONF-1] any object
        assert CATALOGUE.validate_publish("chat", {"type": "message", "text": "Hi"}) is None

    def test_server_only_channels_have_no_publish_schema(self) -> None:
        found = CATALOGUE.validate_publish("system", {"level": "info", "text": "x"})
        assert found is not None
        assert found.pointer == "/data"

    def test_event_data_is_checked_against_the_event_schema(self) -> None:
        assert CATALOGUE.validate_event("system", {"level": "info", "text": "x"}) is None
        found = CATALOGUE.validate_event("system", {"level": "loud", "text": "x"})
        assert found == PayloadProblem("/data/level", "not an allowed value")

    def test_unknown_channel_is_a_key_error(self) -> None:
        with pytest.raises(KeyError):
            CATALOGUE.validate_publish("nowhere", {})


class TestPatternsAreECMA262:
    """Spec conventions: regular expressions are ECMA-262's, matching the whole string, so
    ``$`` never matches before a final newline (Python's ``re`` lets ``"scan.done\n"`` pass)."""

    def test_a_final_newline_fails_an_anchored_pattern(self) -> None:
        event = {"level": "info", "text": "x", "code": "scan.done"}
        assert CATALOGUE.validate_event("system", event) is None
        found = CATALOGUE.validate_event("system", {**event, "code": "scan.done\n"})
        assert found == PayloadProblem("/data/code", "does not match the pattern")

    def test_a_final_newline_fails_a_progress_kind(self) -> None:
        task = {"task": "scan-42", "kind": "scan", "status": "running", "current": 10, "total": 120}
        assert CATALOGUE.validate_event("progress", task) is None
        found = CATALOGUE.validate_event("progress", {**task, "kind": "scan\n"})
        assert found == PayloadProblem("/data/kind", "does not match the pattern")


SCHEMA_PARTS = [
    (name, part)
    for name in sorted(canaux_schemas.CHANNEL_SCHEMAS)
    for part in ("publish", "event")
    if part in canaux_schemas.load(f"channels/{name}.json")["$defs"]
]


def _ends_a_string_with_a_newline(data: Any) -> bool:
    if isinstance(data, str):
        return data.endswith("\n")
    if isinstance(data, dict):
        return any(map(_ends_a_string_with_a_newline, [*data, *data.values()]))
    if isinstance(data, list):
        return any(map(_ends_a_string_with_a_newline, data))
    return False


@pytest.mark.parametrize(("name", "part"), SCHEMA_PARTS, ids=[f"{n}-{p}" for n, p in SCHEMA_PARTS])
def test_catalogue_validation_agrees_with_the_channel_schema(name: str, part: str) -> None:
    """[CHANNEL-5] the catalogue (jsonschema-rs) accepts exactly the data the schema accepts
    as ``jsonschema`` reads it, on generated valid and mutated data; the one difference is the
    regular expressions' dialect (a final newline before ``$``, ECMA-262 refuses it)."""
    channel = "conformance.x" if name == "conformance" else name
    document = canaux_schemas.load(f"channels/{name}.json")
    schema = {"$defs": document["$defs"], "$ref": f"#/$defs/{part}"}
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"{canaux_schemas.CHANNEL_SCHEMAS[name]}#/$defs/{part}"},
        registry=canaux_schemas.registry(),
    )
    validate = CATALOGUE.validate_publish if part == "publish" else CATALOGUE.validate_event
    mutations = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-2, 2),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=3),
        st.sampled_from(["add", "move", "message", "", "x" * 70, "scan\n", 1.0, 2**60]),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(from_schema(schema), st.data())
    def check(data: Any, draw: st.DataObject) -> None:
        if isinstance(data, dict) and data and draw.draw(st.booleans(), label="mutate"):
            key = draw.draw(st.sampled_from(sorted(data)), label="key")
            data = {**data, key: draw.draw(mutations, label="value")}
        note(repr(data))
        problem = validate(channel, data)
        valid = validator.is_valid(data)
        if valid and problem is not None:
            # The one difference: ECMA-262 refuses a final newline before "$".
            assert problem.message == "does not match the pattern"
            assert _ends_a_string_with_a_newline(data)
        else:
            assert (problem is None) is valid
        if problem is not None:
            assert problem.pointer.startswith("/data")

    check()
