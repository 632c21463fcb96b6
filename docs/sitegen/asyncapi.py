"""The AsyncAPI 3.0 page of the spec site: the protocol's document and its presentation.

The document is built by :func:`canaux.server.asyncapi.build_document` from the files of
``schemas/`` (the standard channels are ``schemas/channels/*.json``): the same code path a
running server uses for ``GET /asyncapi.json``, so the site and the servers describe Canaux
the same way. This module renders that document as a page. It is validated by the official
``@asyncapi/parser`` (``docs/asyncapi/validate.mjs``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from canaux.server.asyncapi import (
    PROTOCOL_VERSION,
    build_document,
    channel_names,
    frame_directions,
)

__all__ = [
    "PROTOCOL_VERSION",
    "build_document",
    "channel_names",
    "frame_directions",
    "render_page",
]


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _summary(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _schema_link(ref: str) -> str:
    """Link a payload ``$ref`` (``./schemas/x.json#/$defs/y``) to its reference page anchor."""
    target, _, fragment = ref.partition("#")
    page = target.removeprefix("./").removesuffix(".json") + ".md"
    name = fragment.rsplit("/", 1)[-1]
    return f"[`{target.removeprefix('./schemas/')}#{name}`]({page}#{name})"


def render_page(document: Mapping[str, Any]) -> str:
    """The site page presenting the document: downloads, then servers, channels, operations."""
    lines = [
        "# AsyncAPI document",
        "",
        "Canaux is described by an [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0)",
        "document, generated from `schemas/` each time the site is built and validated by the",
        "official `@asyncapi/parser` in `make test`. Its payloads are `$ref`s into the schema",
        "files, published next to it, so tools that read AsyncAPI (code generators, viewers,",
        "mock servers) see exactly the frames the specification defines.",
        "",
        "Download: [asyncapi.yaml](asyncapi.yaml) · [asyncapi.json](asyncapi.json)",
        "",
        "## Servers",
        "",
        "| Server | Protocol | Host | Description |",
        "| --- | --- | --- | --- |",
    ]
    for name, server in document["servers"].items():
        lines.append(
            f"| `{name}` | `{server['protocol']}` | `{server['host']}` | "
            f"{_summary(server.get('description', ''))} |"
        )
    lines += ["", "## Channels", "", "| Channel | Address | Messages | Description |"]
    lines.append("| --- | --- | --- | --- |")
    for name, channel in document["channels"].items():
        messages = ", ".join(f"[`{m}`](#{m.lower()})" for m in channel["messages"])
        lines.append(
            f"| `{name}` | `{channel['address']}` | {messages} | "
            f"{_summary(channel.get('description', ''))} |"
        )
    lines += ["", "## Operations", "", "The server's point of view: it *receives* client frames"]
    lines += ["and *sends* server frames.", ""]
    lines += [
        "| Operation | Action | Channel | Messages | Reply |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, operation in document["operations"].items():
        channel = _ref_name(operation["channel"]["$ref"])
        sent = ", ".join(f"`{_ref_name(m['$ref'])}`" for m in operation["messages"])
        replies = operation.get("reply", {}).get("messages", [])
        answer = ", ".join(f"`{_ref_name(m['$ref'])}`" for m in replies) or "—"
        lines.append(f"| `{name}` | {operation['action']} | `{channel}` | {sent} | {answer} |")
    lines += ["", "## Messages", ""]
    for name, message in document["components"]["messages"].items():
        lines += [f"### {name} {{#{name.lower()}}}", "", _summary(message.get("summary", "")), ""]
        payload = message["payload"]
        refs = [payload["$ref"]] if "$ref" in payload else []
        for part in payload.get("allOf", ()):
            refs += [part["$ref"]] if "$ref" in part else []
            refs += [p["$ref"] for p in part.get("properties", {}).values() if "$ref" in p]
        lines += ["Payload: " + ", ".join(_schema_link(ref) for ref in refs), ""]
        for example in message.get("examples", ())[:2]:
            lines += ["```json", json.dumps(example["payload"], ensure_ascii=False), "```", ""]
    return "\n".join(lines)
