"""The validation micro-benchmark runs, covers every standard channel part, and keeps results."""

from __future__ import annotations

from pathlib import Path

import canaux_schemas
from benchmarks import validation


def test_every_standard_channel_part_is_timed_with_every_library(tmp_path: Path) -> None:
    assert validation.main(["--repeat", "1", "--number", "3", "--out", str(tmp_path)]) == 0
    rows = validation.measure(repeat=1, number=3)
    parts = {(row["channel"], row["part"]) for row in rows}
    for name in canaux_schemas.CHANNEL_SCHEMAS:
        channel = "conformance.x" if name == "conformance" else name
        defs = canaux_schemas.load(f"channels/{name}.json")["$defs"]
        for part in ("publish", "event"):
            assert ((channel, part) in parts) is (part in defs)
    for row in rows:
        for label in ("catalogue", "jsonschema errors", "jsonschema-rs is_valid"):
            assert row[label] > 0
    assert (tmp_path / "validation.json").is_file()
    assert "| chat | publish |" in (tmp_path / "validation.md").read_text()
