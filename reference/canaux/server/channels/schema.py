"""The schema document of an app channel, built from a dict or a pydantic model [CHANNEL-11].

Every catalogue entry names the ``$id`` of a JSON Schema 2020-12 document whose ``$defs/event``
describes its events and, when clients publish, whose ``$defs/publish`` describes what they
send. The standard channels' documents ship in ``schemas/channels/``; for an app channel this
module builds one::

    {"$schema": ".../2020-12/schema", "$id": "urn:canaux:channel:library",
     "$ref": "#/$defs/event", "$defs": {"event": {...}, "publish": {...}}}

A data schema with ``$defs`` of its own (a pydantic model with nested models) is embedded as a
resource with its own ``$id``, so that its ``#/$defs/...`` references keep resolving inside it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from canaux.server.channels.channel import Channel

__all__ = ["DRAFT_2020_12", "channel_document", "data_schema", "default_schema_id"]

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def default_schema_id(name: str) -> str:
    """``urn:canaux:channel:<name>``: the ``$id`` of an app channel that names none."""
    return f"urn:canaux:channel:{name}"


def data_schema(source: Mapping[str, Any] | type) -> dict[str, Any]:
    """A JSON Schema (dict) from a dict or a pydantic model class (``model_json_schema()``)."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    make = getattr(source, "model_json_schema", None)
    if not callable(make):
        raise TypeError(f"{source!r} is neither a JSON Schema dict nor a pydantic model")
    schema = make()
    if not isinstance(schema, dict):  # pragma: no cover - pydantic always returns a dict
        raise TypeError(f"{source!r}.model_json_schema() did not return a dict")
    return schema


def _embedded(schema: dict[str, Any], base: str, kind: str) -> dict[str, Any]:
    if "$defs" not in schema or "$id" in schema:
        return schema
    separator = ":" if base.startswith("urn:") else "/"
    return {**schema, "$id": f"{base}{separator}{kind}"}


def channel_document(channel: Channel) -> tuple[str, dict[str, Any] | None]:
    """The ``$id`` of ``channel``'s schema, and the document to register under it (``None``
    when the channel names a schema already in the registry, as the standard channels do)."""
    if isinstance(channel.schema, str):
        return channel.schema, None
    schema_id = channel.schema_id or default_schema_id(channel.name)
    event = data_schema(channel.schema)
    defs: dict[str, Any] = {"event": _embedded(event, schema_id, "event")}
    if channel.clients_publish:
        source = channel.publish_schema if channel.publish_schema is not None else channel.schema
        defs["publish"] = _embedded(data_schema(source), schema_id, "publish")
    document: dict[str, Any] = {
        "$schema": DRAFT_2020_12,
        "$id": schema_id,
        "title": channel.title or str(event.get("title") or f"{channel.name} channel data"),
    }
    description = channel.description or event.get("description")
    if description:
        document["description"] = str(description)
    document["$ref"] = "#/$defs/event"
    document["$defs"] = defs
    return schema_id, document
