"""The suite's schema checks of server frames read patterns as ECMA-262 does (spec conventions)."""

from __future__ import annotations

from canaux_conformance.validation import FrameValidator

EVENT = {"type": "event", "channel": "conformance.x", "seq": 1, "data": {"mark": "m"}}


def test_a_valid_event_passes() -> None:
    assert FrameValidator().frame_error(EVENT) is None


def test_a_channel_name_with_a_final_newline_is_refused() -> None:
    """Python's ``re`` lets ``$`` match before a final newline; ECMA-262 does not."""
    error = FrameValidator().frame_error({**EVENT, "channel": "conformance.x\n"})
    assert error is not None
    assert error.startswith("at /channel: ")


def test_event_data_with_a_final_newline_in_a_pattern_is_refused() -> None:
    validator = FrameValidator()
    schema = "https://canaux.dev/schemas/v1/channels/system.json"
    notice = {"level": "info", "text": "x", "code": "scan.done"}
    assert validator.data_error(schema, notice) is None
    error = validator.data_error(schema, {**notice, "code": "scan.done\n"})
    assert error is not None
    assert error.startswith("at /data/code: ")


def test_an_explained_refusal_points_into_the_frame() -> None:
    assert FrameValidator().frame_error({**EVENT, "seq": "one"}) == (
        "at /seq: 'one' is not of type 'integer'"
    )
