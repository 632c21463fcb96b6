"""Every wire example in spec/*.md is a valid frame under schemas/frame.json (spec frames.md).

A ```json code block in the spec holds one frame, several frames separated by whitespace, or a
JSON array of frames. A block that deliberately shows something else (a channel payload, a
legacy frame, an HTTP body, a counter-example) is preceded by the line ``<!-- not-a-frame -->``.
The test fails when the spec has no wire example at all, so an empty or unparsed spec cannot
pass silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import canaux_schemas

__all__: list[str] = []

SPEC = Path(__file__).resolve().parents[2] / "spec"
SKIP_MARKER = "<!-- not-a-frame -->"
FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")


@dataclass(frozen=True)
class Block:
    """One fenced ```json block: where it is, its text, and whether it is marked not-a-frame."""

    path: Path
    line: int
    text: str
    skipped: bool

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.line}"


def json_blocks(path: Path) -> list[Block]:
    """The fenced blocks tagged ``json`` of one Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE_OPEN.match(lines[index])
        if not opening:
            index += 1
            continue
        fence = opening["fence"]
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if opening["info"].lower() == "json":
            previous = [line.strip() for line in lines[:index] if line.strip()]
            skipped = bool(previous) and previous[-1] == SKIP_MARKER
            text = "\n".join(lines[index + 1 : end])
            blocks.append(Block(path, index + 1, text, skipped))
        index = end + 1
    return blocks


def json_values(text: str) -> list[Any]:
    """Every JSON value of a block: whitespace-separated values, as examples are often written."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        value, position = decoder.raw_decode(text, position)
        values.append(value)


def frames_of(block: Block) -> list[Any]:
    frames: list[Any] = []
    for value in json_values(block.text):
        if isinstance(value, list):
            assert value, f"{block.label}: an empty array shows no frame"
            frames.extend(value)
        else:
            frames.append(value)
    return frames


BLOCKS = [block for path in sorted(SPEC.glob("*.md")) for block in json_blocks(path)]
FRAME_BLOCKS = [block for block in BLOCKS if not block.skipped]


def test_the_spec_has_wire_examples() -> None:
    assert FRAME_BLOCKS, f"no ```json wire example found in {SPEC}/*.md"


@pytest.mark.parametrize("block", FRAME_BLOCKS, ids=[block.label for block in FRAME_BLOCKS])
def test_wire_example_is_a_valid_frame(block: Block) -> None:
    try:
        frames = frames_of(block)
    except json.JSONDecodeError as error:
        pytest.fail(f"{block.label}: not JSON ({error}); mark it {SKIP_MARKER} if intended")
    assert frames, f"{block.label}: empty block"
    schema = Draft202012Validator(
        {"$ref": canaux_schemas.FRAME_SCHEMA_ID}, registry=canaux_schemas.registry()
    )
    problems = [
        f"{json.dumps(frame)[:120]}: {error.message[:200]}"
        for frame in frames
        for error in schema.iter_errors(frame)
    ]
    assert not problems, f"{block.label}:\n" + "\n".join(problems)


def test_block_extraction_handles_markers_fences_and_sequences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'Intro\n\n```json\n{"type":"ping"} {"type":"pong"}\n```\n\n'
        '<!-- not-a-frame -->\n\n```json\n{"mark":"m"}\n```\n\n'
        '````markdown\n```json\n{"inside": true}\n```\n````\n\n'
        '  ```JSON\n  [{"type":"ack","id":"c1"}]\n  ```\n',
        encoding="utf-8",
    )
    blocks = json_blocks(page)
    assert [(b.line, b.skipped) for b in blocks] == [(3, False), (9, True), (19, False)]
    assert frames_of(blocks[0]) == [{"type": "ping"}, {"type": "pong"}]
    assert frames_of(blocks[2]) == [{"type": "ack", "id": "c1"}]
