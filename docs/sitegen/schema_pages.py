"""The schema reference: one Markdown page per file of schemas/, generated at build time.

Each page shows, for the schema and every ``$defs`` entry, its fields (name, type, required,
constraints, description), the alternatives of a union, the values of an enum, the examples
the schema carries, and the raw JSON Schema — all read from ``schemas/``, nothing restated.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "page_uri",
    "render_index",
    "render_schema_page",
    "type_of",
]

SCHEMA_BASE_URI = "https://canaux.dev/schemas/v1/"

# Keywords shown as constraints, with how each reads.
_CONSTRAINTS: tuple[tuple[str, str], ...] = (
    ("minLength", "length ≥ {}"),
    ("maxLength", "length ≤ {}"),
    ("pattern", "matches {}"),
    ("format", "format {}"),
    ("minimum", "≥ {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMinimum", "> {}"),
    ("exclusiveMaximum", "< {}"),
    ("multipleOf", "multiple of {}"),
    ("minItems", "≥ {} items"),
    ("maxItems", "≤ {} items"),
    ("minProperties", "≥ {} members"),
    ("maxProperties", "≤ {} members"),
)


def page_uri(schema_path: str) -> str:
    """Site path of the page documenting ``schema_path``.

    ``channels/chat.json`` → ``schemas/channels/chat.md``: the page sits beside the raw file.
    """
    return "schemas/" + schema_path.removesuffix(".json") + ".md"


def _cell(text: str) -> str:
    """Make text safe inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    """A code span that survives backticks in ``text``.

    Pipes need no escape: Python-Markdown's tables never split a cell inside a code span
    (and an escaped pipe would show its backslash there).
    """
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _ref_link(ref: str, schema_path: str) -> str:
    """A Markdown link for a ``$ref``: an anchor on this page or on another schema's page."""
    target, _, fragment = ref.partition("#")
    name = fragment.rsplit("/", 1)[-1] if fragment.startswith("/$defs/") else ""
    if not target:
        return f"[{name or 'schema'}](#{name or 'top'})"
    if target.startswith(SCHEMA_BASE_URI):
        target_path = target.removeprefix(SCHEMA_BASE_URI)
    else:
        target_path = posixpath.normpath(posixpath.join(posixpath.dirname(schema_path), target))
    here = posixpath.dirname(page_uri(schema_path))
    link = posixpath.relpath(page_uri(target_path), here)
    label = f"{target_path}#{name}" if name else target_path
    return f"[{label}]({link}#{name or 'top'})"


def type_of(node: Any, schema_path: str) -> str:
    """A short human type for a schema node, with links for references."""
    if node is True or node == {}:
        return "any JSON value"
    if not isinstance(node, Mapping):
        return "never" if node is False else _code(json.dumps(node))
    if "$ref" in node:
        return _ref_link(str(node["$ref"]), schema_path)
    if "const" in node:
        return _code(json.dumps(node["const"], ensure_ascii=False)) + " (constant)"
    if "enum" in node:
        return "one of " + ", ".join(_code(json.dumps(v, ensure_ascii=False)) for v in node["enum"])
    for union in ("oneOf", "anyOf"):
        if union in node:
            return " or ".join(type_of(option, schema_path) for option in node[union])
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    words: list[str] = []
    for each in kinds:
        if each == "array" and "items" in node:
            words.append("array of " + type_of(node["items"], schema_path))
        else:
            words.append(str(each))
    return " or ".join(words) if words else "any JSON value"


def _constraints(node: Any) -> str:
    if not isinstance(node, Mapping):
        return ""
    parts = [
        text.format(_code(node[key]) if key in ("pattern", "format") else _plain(node[key]))
        for key, text in _CONSTRAINTS
        if key in node
    ]
    if node.get("uniqueItems"):
        parts.append("items unique")
    if node.get("additionalProperties") is False:
        parts.append("no other members")
    if "default" in node:
        parts.append("default " + _code(json.dumps(node["default"])))
    if "not" in node:
        parts.append("not " + _code(json.dumps(node["not"], ensure_ascii=False)))
    return "; ".join(parts)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _field_rows(node: Mapping[str, Any], schema_path: str, prefix: str = "") -> Iterator[str]:
    """Table rows for an object's members; inline nested objects add ``parent.child`` rows."""
    required = set(node.get("required", ()))
    for name, child in node.get("properties", {}).items():
        child_map: Mapping[str, Any] = child if isinstance(child, Mapping) else {}
        description = _cell(str(child_map.get("description", "")))
        yield (
            f"| {_code(prefix + name)} | {type_of(child, schema_path)} | "
            f"{'yes' if name in required else 'no'} | {_constraints(child)} | {description} |"
        )
        if "properties" in child_map and "$ref" not in child_map:
            yield from _field_rows(child_map, schema_path, prefix=f"{prefix}{name}.")


def _section(title: str, anchor: str, node: Mapping[str, Any], schema_path: str) -> list[str]:
    """The Markdown of one definition (the top of the file, or one ``$defs`` entry)."""
    lines = [f"## {title} {{#{anchor}}}", ""]
    if "title" in node and anchor != "top":
        lines += [f"*{node['title']}*", ""]
    if "description" in node:
        lines += [str(node["description"]), ""]
    if "properties" in node:
        lines += [
            "| Field | Type | Required | Constraints | Description |",
            "| --- | --- | --- | --- | --- |",
            *_field_rows(node, schema_path),
            "",
        ]
        if node.get("additionalProperties") is False:
            lines += ["No other members are allowed.", ""]
        else:
            lines += ["Other members are allowed and ignored by receivers.", ""]
    for union, word in (("oneOf", "Exactly one of"), ("anyOf", "Any of")):
        if union in node:
            lines.append(f"{word}:")
            lines.append("")
            lines += [f"- {type_of(option, schema_path)}" for option in node[union]]
            lines.append("")
    if "properties" not in node and not any(u in node for u in ("oneOf", "anyOf")):
        summary = f"**Type:** {type_of(node, schema_path)}"
        constraints = _constraints(node)
        if constraints:
            summary += f" — {constraints}"
        lines += [summary, ""]
    for number, example in enumerate(node.get("examples", ()), start=1):
        if number == 1:
            lines += ["**Examples**", ""]
        lines += ["```json", json.dumps(example, indent=2, ensure_ascii=False), "```", ""]
    shown = {key: value for key, value in node.items() if key != "$defs"}
    lines += [
        '??? note "JSON Schema"',
        "",
        "    ```json",
        *("    " + line for line in json.dumps(shown, indent=2, ensure_ascii=False).splitlines()),
        "    ```",
        "",
    ]
    return lines


def render_schema_page(schema_path: str, schema: Mapping[str, Any]) -> str:
    """The full reference page for one schema file."""
    name = posixpath.basename(schema_path)  # the raw file is published beside its page
    lines = [
        f"# {schema.get('title', schema_path)}",
        "",
        f"`schemas/{schema_path}` — JSON Schema 2020-12. This page is generated from the file",
        "itself each time the site is built.",
        "",
        f"- **`$id`:** `{schema.get('$id', '')}`",
        f"- **Raw file:** [{name}]({name})",
        "",
    ]
    defs: Mapping[str, Any] = schema.get("$defs", {})
    if defs:
        lines += ["**Definitions:** " + ", ".join(f"[{key}](#{key})" for key in defs), ""]
    lines += _section("Top level", "top", schema, schema_path)
    for key, node in defs.items():
        if isinstance(node, Mapping):
            lines += _section(key, key, node, schema_path)
    return "\n".join(lines)


def render_index(schemas: Mapping[str, Mapping[str, Any]]) -> str:
    """The schema reference's landing page: one row per schema file."""
    lines = [
        "# Schema reference",
        "",
        "Every frame and every standard channel payload has a JSON Schema (draft 2020-12) in",
        "`schemas/`. These pages are generated from those files each time the site is built,",
        "so they always say exactly what the schemas say. The raw files are published beside",
        "their pages, under the same `$id` paths.",
        "",
        "| Schema | `$id` | What it describes |",
        "| --- | --- | --- |",
    ]
    for path, schema in schemas.items():
        link = page_uri(path).removeprefix("schemas/")
        title = schema.get("title", path)
        lines.append(
            f"| [{title}]({link}) | `{schema.get('$id', '')}` | "
            f"{_cell(str(schema.get('description', '')))} |"
        )
    lines.append("")
    return "\n".join(lines)
