"""Tests of canaux.protocol.codes: the code registries match error-codes.md and close-codes.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import canaux_schemas
from canaux.protocol.codes import (
    CLOSE_CODES,
    HTTP_ONLY_ERROR_CODES,
    ChatErrorCode,
    CloseCode,
    ErrorCode,
    should_reconnect,
)

SPEC = Path(__file__).resolve().parents[3] / "spec"


def registry_rows(filename: str) -> list[list[str]]:
    """Body rows of the Markdown tables of ``spec/<filename>``, cells stripped of backticks.

    Skips the test (with the reason) while the spec file has not been written.
    """
    path = SPEC / filename
    if not path.exists():
        pytest.skip(f"spec/{filename} does not exist yet: nothing to compare the registry with")
    rows: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [cell.strip().strip("`").strip() for cell in line.strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells if cell):
            continue
        rows.append(cells)
    return rows


class TestErrorCodeRegistry:
    def test_error_codes_are_exactly_the_spec_table(self) -> None:
        """Every error code used is in the spec's registry, and the reverse (error-codes.md)."""
        rows = registry_rows("error-codes.md")
        codes = {row[0] for row in rows if re.fullmatch(r"[a-z][a-z_]*", row[0])}
        assert codes == {code.value for code in ErrorCode}

    def test_http_only_codes_are_the_rows_not_marked_frame(self) -> None:
        rows = registry_rows("error-codes.md")
        http_only = {
            row[0]
            for row in rows
            if re.fullmatch(r"[a-z][a-z_]*", row[0]) and "frame" not in row[2].lower()
        }
        assert http_only == {code.value for code in HTTP_ONLY_ERROR_CODES}

    def test_error_frame_codes_are_exactly_the_frame_schema_enum(self) -> None:
        schema = canaux_schemas.load("frame.json")["$defs"]["error_code"]["enum"]
        assert set(schema) == {code.value for code in ErrorCode} - HTTP_ONLY_ERROR_CODES

    def test_chat_stream_codes_are_the_chat_schema_enum(self) -> None:
        chat = canaux_schemas.load("channels/chat.json")["$defs"]["error"]
        assert set(chat["properties"]["code"]["enum"]) == {code.value for code in ChatErrorCode}


class TestCloseCodeRegistry:
    def test_close_codes_are_exactly_the_spec_table(self) -> None:
        rows = registry_rows("close-codes.md")
        codes = {int(row[0]) for row in rows if re.fullmatch(r"\d{4}", row[0])}
        assert codes == {int(code) for code in CloseCode}

    def test_reconnect_column_matches_should_reconnect(self) -> None:
        """[CLIENT-4] the "client should reconnect" column of the spec table."""
        rows = registry_rows("close-codes.md")
        checked = 0
        for row in rows:
            if not re.fullmatch(r"\d{4}", row[0]):
                continue
            verdicts = [c.lower() for c in row[1:] if re.match(r"(yes|no)\b", c.lower())]
            assert verdicts, f"no reconnect verdict in row {row}"
            assert should_reconnect(int(row[0])) is verdicts[-1].startswith("yes"), row
            checked += 1
        assert checked == len(CloseCode)


class TestShouldReconnect:
    """[CLIENT-4] no automatic reconnection after codes marked "no"."""

    @pytest.mark.parametrize(
        "code",
        [
            CloseCode.GOING_AWAY,
            CloseCode.INTERNAL_ERROR,
            CloseCode.HELLO_TIMEOUT,
            CloseCode.HEARTBEAT_TIMEOUT,
            CloseCode.RATE_LIMITED,
            CloseCode.SLOW_CONSUMER,
            CloseCode.PROTOCOL_ERROR,
            CloseCode.ABNORMAL_CLOSURE,
        ],
    )
    def test_transient_codes_allow_reconnecting(self, code: CloseCode) -> None:
        assert should_reconnect(code)

    @pytest.mark.parametrize(
        "code",
        [
            CloseCode.NORMAL,
            CloseCode.UNSUPPORTED_DATA,
            CloseCode.INVALID_PAYLOAD,
            CloseCode.MESSAGE_TOO_BIG,
            CloseCode.BAD_HANDSHAKE,
            CloseCode.UNAUTHORIZED,
            CloseCode.UNSUPPORTED_VERSION,
            CloseCode.DUPLICATE_HELLO,
            CloseCode.SESSION_REPLACED,
        ],
    )
    def test_refusals_forbid_reconnecting(self, code: CloseCode) -> None:
        assert not should_reconnect(code)

    def test_a_drop_without_close_frame_allows_reconnecting(self) -> None:
        assert should_reconnect(None)
        assert should_reconnect(1006)

    def test_a_code_outside_the_registry_allows_reconnecting(self) -> None:
        """The spec's close code table: an unknown code is handled as "yes"."""
        assert should_reconnect(4999)
        assert should_reconnect(1012)

    def test_every_code_has_a_row(self) -> None:
        assert set(CLOSE_CODES) == set(CloseCode)
