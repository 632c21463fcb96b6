"""The I-JSON door (canaux.protocol.ijson): [TRANSPORT-12], [TRANSPORT-17]..[TRANSPORT-20]."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canaux.protocol import ijson
from canaux.protocol.ijson import (
    MAX_DEPTH,
    IJsonError,
    UnencodableValue,
    dumps,
    encode_value,
    loads,
)


def nested(depth: int) -> str:
    """A frame object whose ``data`` makes the deepest container sit at ``depth``."""
    inner = depth - 1  # the frame object is depth 1
    return '{"data":' + "[" * inner + "]" * inner + "}"


REFUSED = {
    # [TRANSPORT-18] (1) escaped surrogates not part of a valid pair
    "lone high surrogate": ('{"a":"\\ud800"}', "/a"),
    "lone low surrogate": ('{"a":"x\\udc00y"}', "/a"),
    "reversed pair": ('{"a":"\\udc00\\ud800"}', "/a"),
    "lone surrogate in a name": ('{"b":{"\\ud800":1}}', "/b"),
    # (2) noncharacters, raw and escaped, BMP and supplementary
    "raw U+FDD0": ('{"a":"\ufdd0"}', "/a"),
    "escaped U+FFFE": ('{"a":"\\uFFFE"}', "/a"),
    "escaped U+FFFF lowercase": ('{"a":"\\uffff"}', "/a"),
    "raw U+10FFFF": ('{"a":"\U0010ffff"}', "/a"),
    "escaped pair U+1FFFE": ('{"a":"\\ud83f\\udffe"}', "/a"),
    "noncharacter in a name": ('{"a":[{"\ufdef":1}]}', "/a/0"),
    # (3) duplicate names, at any depth, even with equal values
    "duplicate at the top": ('{"a":1,"a":1}', ""),
    "duplicate nested": ('{"a":[1,{"b":1,"c":2,"b":3}]}', "/a/1"),
    "duplicate with spaces": ('{ "a" : 1 , "a" : 2 }', ""),
    # (4) beyond a double
    "1e400": ('{"a":1e400}', "/a"),
    "-1e400": ('{"a":[-1e400]}', "/a/0"),
    "400 digits": ('{"a":' + "9" * 400 + "}", "/a"),
    "5001 digits": ('{"a":' + "1" * 5001 + "}", "/a"),
    # (5) integer literals beyond 2**53 - 1
    "2**53": ('{"a":9007199254740992}', "/a"),
    "-(2**53)": ('{"a":-9007199254740992}', "/a"),
    "2**64": ('{"a":18446744073709551616}', "/a"),
    "30 digits": ('{"a":123456789012345678901234567890}', "/a"),
    # (6) nonzero numbers a double rounds to zero
    "1e-400": ('{"a":1e-400}', "/a"),
    "-1E-400": ('{"a":-1E-400}', "/a"),
    "long zero run": ('{"a":0.' + "0" * 400 + "1}", "/a"),
    # (7) nesting
    "depth 65": (nested(MAX_DEPTH + 1), "/data" + "/0" * (MAX_DEPTH - 1)),
}


class TestRefused:
    @pytest.mark.parametrize(("text", "pointer"), REFUSED.values(), ids=REFUSED.keys())
    def test_refused_with_the_pointer_of_the_fault(self, text: str, pointer: str) -> None:
        for form in (text, text.encode("utf-8", "surrogatepass")):
            with pytest.raises(IJsonError) as caught:
                loads(form)
            assert caught.value.pointer == pointer
            assert isinstance(caught.value, ValueError)

    def test_nesting_beyond_what_the_parsers_read_is_refused(self) -> None:
        # Deeper than orjson (1024) and the standard library (recursion limit) read.
        with pytest.raises(IJsonError, match="nested deeper"):
            loads(nested(20_000))

    @pytest.mark.parametrize("text", ["{", "NaN", '{"a":Infinity}', "", '{"a":1}x', "\ufeff{}"])
    def test_text_that_is_not_json_is_refused_transport_5(self, text: str) -> None:
        with pytest.raises(IJsonError, match="not valid json"):
            loads(text)

    def test_bytes_that_are_not_utf8_are_refused(self) -> None:
        with pytest.raises(IJsonError):
            loads(b'{"a":"\xff"}')
        # The standard library would detect UTF-16; a frame is UTF-8 [TRANSPORT-3].
        with pytest.raises(IJsonError):
            loads('{"a":1}'.encode("utf-16"))


ACCEPTED: dict[str, tuple[str, Any]] = {
    "valid pair": ('{"a":"\\ud83c\\udfb5"}', {"a": "\U0001f3b5"}),
    "U+FFFD is a character": ('{"a":"\ufffd\\ufffd"}', {"a": "\ufffd\ufffd"}),
    "U+FDCF and U+FDF0 are characters": ('{"a":"\ufdcf\ufdf0"}', {"a": "\ufdcf\ufdf0"}),
    "escaped backslash then u": ('{"a":"\\\\ud800"}', {"a": "\\ud800"}),
    "colons in strings": ('{"a":"12:30","b:c":"d"}', {"a": "12:30", "b:c": "d"}),
    "2**53 - 1": ('{"a":9007199254740991}', {"a": 2**53 - 1}),
    "-(2**53 - 1)": ('{"a":-9007199254740991}', {"a": -(2**53 - 1)}),
    "1e300": ('{"a":1e300}', {"a": 1e300}),
    "20 digits with a fraction": ('{"a":12345678901234567890.5}', {"a": 12345678901234567890.5}),
    "a zero with a big exponent": ('{"a":0e-400}', {"a": 0.0}),
    "negative zero": ('{"a":-0,"b":-0.0}', {"a": 0, "b": 0.0}),
    "30 digit decimal": (
        '{"a":0.123456789012345678901234567890}',
        {"a": 0.12345678901234568},
    ),
    "depth 64": (nested(MAX_DEPTH), json.loads(nested(MAX_DEPTH))),
    "many brackets, shallow": ('{"a":[' + ",".join(["{}"] * 200) + "]}", {"a": [{}] * 200}),
}


class TestAccepted:
    @pytest.mark.parametrize(("text", "value"), ACCEPTED.values(), ids=ACCEPTED.keys())
    def test_accepted_as_the_nearest_doubles_transport_19(self, text: str, value: Any) -> None:
        assert loads(text) == value
        assert loads(text.encode()) == value
        # Whatever was accepted is written back, and reads back the same [TRANSPORT-20].
        assert loads(dumps(loads(text))) == value

    @pytest.mark.parametrize("text", ['{"a":-0}', '{"a":-0.0}', '{"a":-0e5}'])
    def test_negative_zero_is_accepted_and_delivered_as_a_zero(self, text: str) -> None:
        # [TRANSPORT-19] the sign of a zero may be lost; the value may not.
        assert loads(dumps(loads(text))) == {"a": 0}


class TestEncoding:
    @pytest.mark.parametrize("value", [{"a": "\ud800"}, {"a": 2**64}, {"a": object()}])
    def test_dumps_never_falls_back(self, value: Any) -> None:
        with pytest.raises(UnencodableValue) as caught:
            dumps(value)
        assert isinstance(caught.value, TypeError)
        assert isinstance(caught.value, ValueError)

    @pytest.mark.parametrize("value", [{"a": "\ufffe"}, {"a": 2**60}, {"a": [[[]]] * 1}])
    def test_encode_value_reads_its_output_through_the_door(self, value: Any) -> None:
        if value == {"a": [[[]]]}:
            assert encode_value(value) == '{"a":[[[]]]}'
            return
        with pytest.raises(IJsonError):
            encode_value(value)


# Every I-JSON value the fast path sees must come out exactly as the standard library reads it.
def _bad(char: str) -> bool:
    return ijson._BAD_CHAR.search(char) is not None


_texts = st.text(st.characters(codec="utf-8").filter(lambda c: not _bad(c)), max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _texts
)


_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_values, st.booleans())
def test_i_json_values_round_trip_through_the_door(value: Any, ascii_escapes: bool) -> None:
    text = json.dumps({"v": value}, ensure_ascii=ascii_escapes)
    assert loads(text) == json.loads(text)
    assert loads(dumps(loads(text))) == json.loads(text)
