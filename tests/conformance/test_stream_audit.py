"""The stream audit of SSE streams and HTTP answers (audit.py: EventStreamAudit,
http_error_findings), message by message, no server (#9 item 4)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from canaux_conformance.audit import HTTP_ERROR_CODES, EventStreamAudit, http_error_findings
from tests.spec import speclib

__all__: list[str] = []

SESSION = "s" * 22
CHANNEL = "conformance.audit.a"


def welcome(resumed: bool = False, seq: int = 0) -> dict[str, Any]:
    return {"type": "welcome", "session": SESSION, "resumed": resumed, "seq": seq}


def event(seq: int, channel: str = CHANNEL) -> dict[str, Any]:
    return {"type": "event", "seq": seq, "channel": channel, "data": {"mark": f"m{seq}"}}


def cited(audit: EventStreamAudit, *messages: tuple[str | None, str | None, Any]) -> list[str]:
    return [f.requirement for m in messages for f in audit.message(*m)]


def sse(seq: int, channel: str = CHANNEL) -> tuple[str, str, dict[str, Any]]:
    return (channel, f"{SESSION}:{seq}", event(seq, channel))


class TestEventStreamAudit:
    def test_a_correct_stream_has_no_finding(self) -> None:
        audit = EventStreamAudit([CHANNEL])
        assert cited(audit, ("welcome", None, welcome()), sse(1), sse(2), sse(3)) == []

    def test_the_first_message_is_the_welcome_without_id(self) -> None:
        assert cited(EventStreamAudit([CHANNEL]), sse(1)) == ["SSE-1"]
        assert cited(EventStreamAudit([CHANNEL]), ("welcome", "x:0", welcome())) == ["SSE-1"]

    def test_an_event_of_a_channel_the_stream_did_not_ask_for_is_a_leak(self) -> None:
        audit = EventStreamAudit([CHANNEL])
        other = "conformance.audit.b"
        assert cited(audit, ("welcome", None, welcome()), sse(1, other)) == ["DELIVERY-2"]

    def test_a_gap_and_a_repeat(self) -> None:
        audit = EventStreamAudit([CHANNEL])
        assert cited(audit, ("welcome", None, welcome()), sse(1), sse(3)) == ["DELIVERY-1"]
        assert cited(audit, sse(3)) == ["DELIVERY-6"]

    def test_event_name_and_id_follow_the_frame(self) -> None:
        audit = EventStreamAudit([CHANNEL])
        cited(audit, ("welcome", None, welcome()))
        assert cited(audit, ("other", f"{SESSION}:1", event(1))) == ["SSE-1"]
        assert cited(audit, (CHANNEL, "2", event(2))) == ["SSE-1"]

    def test_a_resumed_stream_continues_from_the_position_asked(self) -> None:
        audit = EventStreamAudit([CHANNEL], [f"{SESSION}:4"])
        assert cited(audit, ("welcome", None, welcome(True, 6)), sse(5), sse(6)) == []
        skipped = EventStreamAudit([CHANNEL], [f"{SESSION}:4"])
        assert cited(skipped, ("welcome", None, welcome(True, 6)), sse(6)) == ["DELIVERY-1"]

    def test_two_different_positions_leave_the_first_event_unjudged(self) -> None:
        audit = EventStreamAudit([CHANNEL], [f"{SESSION}:4", f"{SESSION}:2"])
        assert cited(audit, ("welcome", None, welcome(True, 6)), sse(5), sse(6)) == []


class TestHttpErrorFindings:
    JSON = "application/json"

    def test_a_registered_code_and_a_message(self) -> None:
        body = '{"code":"unknown_channel","message":"no channel named nope"}'
        assert http_error_findings(400, self.JSON, body, requirement="SSE-15") == []
        assert http_error_findings(202, "text/plain", "ok", requirement="HTTP-9") == []

    @pytest.mark.parametrize(
        ("kind", "body"),
        [
            ("text/plain", '{"code":"bad_frame","message":"x"}'),
            ("application/json", "not json"),
            ("application/json", '["bad_frame"]'),
            ("application/json", '{"code":"already_subscribed","message":"x"}'),
            ("application/json", '{"code":"bad_frame"}'),
        ],
    )
    def test_every_other_error_answer_is_a_finding(self, kind: str, body: str) -> None:
        found = http_error_findings(400, kind, body, requirement="HTTP-9")
        assert [f.requirement for f in found] == ["HTTP-9"]

    def test_invalid_payload_over_publish_carries_a_pointer(self) -> None:
        body = '{"code":"invalid_payload","message":"x"}'
        assert http_error_findings(422, self.JSON, body, requirement="HTTP-9", pointer=True)
        assert not http_error_findings(422, self.JSON, body, requirement="SSE-15")


def test_the_audit_knows_the_http_error_codes() -> None:
    text = (speclib.SPEC_DIR / "error-codes.md").read_text(encoding="utf-8")
    table = text.split("<!-- registry: error-codes -->", 1)[1].strip().split("\n\n", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    http = {re.sub("`", "", row[0]).strip() for row in rows if "HTTP" in row[2]}
    assert http == HTTP_ERROR_CODES
