"""The schema reference generator: types, constraints and links read from a schema."""

from __future__ import annotations

import markdown  # type: ignore[import-untyped]  # mkdocs brings it; no stubs installed

from docs.sitegen import schema_pages


def test_type_of_links_references_to_their_section() -> None:
    assert (
        schema_pages.type_of({"$ref": "#/$defs/frame_id"}, "frame.json") == "[frame_id](#frame_id)"
    )
    link = schema_pages.type_of(
        {"$ref": "https://canaux.dev/schemas/v1/frame.json#/$defs/limits"}, "channels/chat.json"
    )
    assert link == "[frame.json#limits](../frame.md#limits)"


def test_type_of_reads_unions_enums_constants_and_arrays() -> None:
    assert schema_pages.type_of({"type": ["integer", "null"]}, "x.json") == "integer or null"
    assert schema_pages.type_of({"const": "hello"}, "x.json") == '`"hello"` (constant)'
    assert schema_pages.type_of({"enum": ["a", "b"]}, "x.json") == 'one of `"a"`, `"b"`'
    array = {"type": "array", "items": {"$ref": "#/$defs/track"}}
    assert schema_pages.type_of(array, "x.json") == "array of [track](#track)"
    assert schema_pages.type_of({}, "x.json") == "any JSON value"


def test_page_lists_fields_with_constraints_and_keeps_pipes_inside_cells() -> None:
    schema = {
        "$id": "https://canaux.dev/schemas/v1/channels/demo.json",
        "title": "demo channel data",
        "$defs": {
            "publish": {
                "type": "object",
                "properties": {
                    "mark": {"type": "string", "minLength": 1, "pattern": "^(a|b)$"},
                    "body": {"description": "anything | at all"},
                },
                "required": ["mark"],
                "additionalProperties": False,
                "examples": [{"mark": "a"}],
            }
        },
    }
    page = schema_pages.render_schema_page("channels/demo.json", schema)
    row = next(line for line in page.splitlines() if line.startswith("| `mark`"))
    assert row == "| `mark` | string | yes | length ≥ 1; matches `^(a|b)$` |  |"
    body = next(line for line in page.splitlines() if line.startswith("| `body`"))
    assert "anything \\| at all" in body
    assert "No other members are allowed." in page
    assert "## publish {#publish}" in page
    assert "[demo.json](demo.json)" in page


def test_pipes_in_code_spans_stay_inside_their_table_cell() -> None:
    schema = {"$defs": {"x": {"properties": {"v": {"type": "string", "pattern": "^(a|b)$"}}}}}
    page = schema_pages.render_schema_page("x.json", schema)
    html = markdown.markdown(page, extensions=["tables", "attr_list"])
    assert "<td>length" not in html  # no cell split at the pipe
    assert "<code>^(a|b)$</code>" in html
