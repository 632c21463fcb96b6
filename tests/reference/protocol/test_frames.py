"""Tests of canaux.protocol.frames: parsing, error pointers, encoding (spec frames.md)."""

from __future__ import annotations

import json

import pytest

from canaux.protocol import frames
from canaux.protocol.codes import ErrorCode
from canaux.protocol.frames import FrameError, decode_json, encode, parse_client_frame

SESSION = "q1ZpX8vB3kT0aLm2Nc7RdA"


def frame_error(obj: object) -> FrameError:
    with pytest.raises(FrameError) as info:
        parse_client_frame(obj)
    return info.value


class TestParsingClientFrames:
    def test_contract_examples_parse_to_their_models(self) -> None:
        assert parse_client_frame({"type": "hello", "version": 1}) == frames.Hello(version=1)
        hello = parse_client_frame(
            {
                "type": "hello",
                "version": 1,
                "token": "secret-abc",
                "resume": {"session": SESSION, "seq": 41},
            }
        )
        assert isinstance(hello, frames.Hello)
        assert hello.resume == frames.ResumeRequest(session=SESSION, seq=41)
        publish = parse_client_frame(
            {"type": "publish", "id": "c3", "channel": "conformance.demo", "data": {"mark": "m"}}
        )
        assert publish == frames.Publish(id="c3", channel="conformance.demo", data={"mark": "m"})

    def test_unknown_members_are_ignored(self) -> None:
        """[TRANSPORT-7] receivers ignore unknown members."""
        frame = parse_client_frame({"type": "ping", "nonce": "1", "future": {"x": 1}})
        assert frame == frames.Ping(nonce="1")
        assert encode(frame) == '{"type":"ping","nonce":"1"}'

    def test_integral_float_is_an_integer_as_in_json_schema(self) -> None:
        frame = parse_client_frame({"type": "hello", "version": 1.0})
        assert isinstance(frame, frames.Hello)
        assert frame.version == 1
        assert type(frame.version) is int

    @pytest.mark.parametrize("version", [True, 1.5, "1", None, [1]])
    def test_boolean_and_other_non_integers_are_not_a_version(self, version: object) -> None:
        assert frame_error({"type": "hello", "version": version}).pointer == "/version"

    def test_publish_data_may_be_null_but_not_absent(self) -> None:
        frame = parse_client_frame({"type": "publish", "id": "a", "channel": "x", "data": None})
        assert isinstance(frame, frames.Publish)
        assert frame.data is None
        assert encode(frame) == '{"type":"publish","id":"a","channel":"x","data":null}'
        assert frame_error({"type": "publish", "id": "a", "channel": "x"}).pointer == "/data"

    def test_optional_members_may_be_absent_but_not_null(self) -> None:
        error = frame_error({"type": "ping", "nonce": None})
        assert (error.pointer, error.message) == ("/nonce", "must not be null")

    def test_server_frame_types_are_not_client_frames(self) -> None:
        """[OPS-8] a server-only type such as event is a bad frame."""
        error = frame_error({"type": "event", "seq": 1, "channel": "x", "data": 1})
        assert error.pointer == "/type"


class TestFrameErrors:
    """[OPS-8] bad_frame carries a pointer into the frame and the frame's id when a string."""

    def test_missing_member_points_at_the_member(self) -> None:
        error = frame_error({"type": "subscribe", "id": "c1"})
        assert (error.pointer, error.message, error.frame_id) == ("/channel", "required", "c1")

    def test_missing_type_points_at_type(self) -> None:
        error = frame_error({"id": "c9"})
        assert (error.pointer, error.frame_id) == ("/type", "c9")

    def test_unknown_type_points_at_type(self) -> None:
        assert frame_error({"type": "teleport", "id": 5}).pointer == "/type"

    def test_pattern_failure_points_at_the_member(self) -> None:
        error = frame_error({"type": "subscribe", "id": "c1", "channel": "Not.Valid"})
        assert (error.pointer, error.message) == ("/channel", "does not match the pattern")

    def test_nested_failure_points_inside_the_member(self) -> None:
        error = frame_error({"type": "hello", "version": 1, "resume": {"session": SESSION}})
        assert error.pointer == "/resume/seq"

    def test_id_is_kept_even_when_it_is_malformed(self) -> None:
        """The error echoes any string id so the client can correlate it."""
        error = frame_error({"type": "subscribe", "id": "has space", "channel": "x"})
        assert (error.pointer, error.frame_id) == ("/id", "has space")

    def test_non_string_id_is_not_echoed(self) -> None:
        assert frame_error({"type": "subscribe", "id": 7, "channel": "x"}).frame_id is None

    def test_not_an_object_points_at_the_whole_frame(self) -> None:
        assert frame_error([1, 2]).pointer == ""

    def test_messages_are_short_and_lowercase(self) -> None:
        error = frame_error({"type": "hello", "version": 0})
        assert error.message == error.message.lower()
        assert len(error.message) < 80


class TestEncoding:
    def test_output_is_compact_json_without_unset_members(self) -> None:
        error = frames.Error(code=ErrorCode.NOT_SUBSCRIBED, message="no", id="c2")
        assert encode(error) == '{"type":"error","code":"not_subscribed","message":"no","id":"c2"}'

    def test_catalogue_entry_schema_member_is_named_schema(self) -> None:
        entry = frames.CatalogueEntry(name="chat", publish="client", schema_="urn:x")
        assert json.loads(encode(entry)) == {"name": "chat", "publish": "client", "schema": "urn:x"}

    def test_what_i_json_cannot_hold_is_never_encoded_transport_20(self) -> None:
        # No fallback writer: a lone surrogate or a 2**80 never becomes text some receiver
        # could not read back.
        for data in ({"big": 2**80}, {"text": "\ud800"}):
            with pytest.raises(ValueError, match="i-json"):
                encode(frames.Event(seq=1, channel="c", data=data))

    def test_event_text_splices_preencoded_data(self) -> None:
        text = frames.event_text(7, "conformance.demo", '{"mark":"m-1"}')
        assert json.loads(text) == {
            "type": "event",
            "seq": 7,
            "channel": "conformance.demo",
            "data": {"mark": "m-1"},
        }

    def test_event_frame_gives_the_exact_utf8_length_limit_11(self) -> None:
        # Built once per event, the seq spliced per session: the length must stay exact for
        # every seq width and for data that is not ASCII [LIMIT-4, LIMIT-11].
        shared = '{"t":"h\u00e9 é€😀"}'
        for seq in (1, 9, 10, 99_999, 10**12):
            for channel, data_json in (
                ("conformance.a", shared),
                ("conformance.b", shared),  # same data object, another channel
                ("conformance.b", shared[:1] + shared[1:]),  # equal data, another object
                ("c", "{}"),
            ):
                text, size = frames.event_frame(seq, channel, data_json)
                assert size == len(text.encode("utf-8"))
                assert json.loads(text) == {
                    "type": "event",
                    "seq": seq,
                    "channel": channel,
                    "data": json.loads(data_json),
                }
                assert frames.event_text(seq, channel, data_json) == text


class TestDecodingJson:
    """[TRANSPORT-5] what counts as JSON text."""

    @pytest.mark.parametrize("text", ["{", "NaN", '{"a": Infinity}', "", "{'a': 1}"])
    def test_non_json_text_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match="json"):
            decode_json(text)

    def test_escaped_lone_surrogate_is_refused_transport_18(self) -> None:
        with pytest.raises(ValueError, match="surrogate"):
            decode_json('{"a":"\\ud800"}')

    def test_integer_literals_beyond_2_53_are_refused_transport_18(self) -> None:
        with pytest.raises(ValueError, match="2\\*\\*53"):
            decode_json('{"n": 123456789012345678901234567890}')
