"""Schema checks of what a server sends: frames (frame.json), channel data, legacy frames
(spec frames.md, legacy.md).

Every frame a run receives is checked, so the verdict comes from jsonschema-rs's compiled
validators, whose regular expressions are ECMA-262's as the specification says (Python's
``re`` lets ``"$"`` match before a final newline: ``"chat\n"`` would pass as a channel name);
``jsonschema`` only explains a frame already found invalid.

Also :func:`catalogue_entry`, the catalogue lookup of a channel name [CHANNEL-2].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

import canaux_schemas

__all__ = ["SERVER_FRAME_TYPES", "FrameValidator", "catalogue_entry", "shared_validator"]

SERVER_FRAME_TYPES = ("welcome", "ack", "error", "event", "ping", "pong")
"""The frames a server sends (spec frames.md)."""


def catalogue_entry(
    catalogue: Iterable[Mapping[str, Any]], channel: str
) -> Mapping[str, Any] | None:
    """The catalogue entry covering ``channel``: exact name, else a family ``p.*`` [CHANNEL-2]."""
    family = None
    for entry in catalogue:
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        if name == channel:
            return entry
        # [CHANNEL-2] "p.*" covers names starting with "p." that have at least one more segment.
        if name.endswith(".*") and channel.startswith(name[:-1]) and len(channel) > len(name) - 1:
            family = family or entry
    return family


class _Checked:
    """One schema: jsonschema-rs decides, ``jsonschema`` says where and why."""

    __slots__ = ("_explain", "_fast")

    def __init__(self, ref: str, registry: Any, fast_registry: jsonschema_rs.Registry) -> None:
        self._fast = jsonschema_rs.validator_for(
            {"$schema": _DRAFT_2020_12, "$ref": ref}, registry=fast_registry
        )
        self._explain = Draft202012Validator({"$ref": ref}, registry=registry)

    def error(self, instance: Any, prefix: str = "") -> str | None:
        """Why ``instance`` is invalid (``at /pointer: message``), or ``None`` if it is valid."""
        if self._fast.is_valid(instance):
            return None
        found = best_match(self._explain.iter_errors(instance))
        if found is not None:
            path, message = list(found.absolute_path), found.message
        else:  # only ECMA-262 refuses it (a final newline before "$")
            fast = next(iter(self._fast.iter_errors(instance)))
            path, message = list(fast.instance_path), fast.message
        where = prefix + "/" + "/".join(str(p) for p in path)
        return f"at {where.rstrip('/') or '/'}: {message}"


_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


class FrameValidator:
    """JSON Schema checks of server frames and channel event data, from ``canaux_schemas``."""

    def __init__(self) -> None:
        self._registry = canaux_schemas.registry()
        self._fast_registry = jsonschema_rs.Registry(
            [(uri, self._registry.contents(uri)) for uri in self._registry]
        )
        self._frame = self._checked(canaux_schemas.FRAME_SCHEMA_ID + "#/$defs/server_frame")
        self._by_type = {
            kind: self._checked(f"{canaux_schemas.FRAME_SCHEMA_ID}#/$defs/{kind}")
            for kind in SERVER_FRAME_TYPES
        }
        self._data: dict[str, _Checked | None] = {}
        self._legacy = self._checked(
            canaux_schemas.SCHEMA_BASE_URI + "legacy.json#/$defs/server_frame"
        )

    def _checked(self, ref: str) -> _Checked:
        return _Checked(ref, self._registry, self._fast_registry)

    def frame_error(self, frame: Any) -> str | None:
        """Why ``frame`` is not a valid server frame, or ``None`` if it is."""
        error = self._frame.error(frame)
        if error is None:
            return None
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind not in SERVER_FRAME_TYPES:
            return f"'type' is {kind!r}, not one of the server frame types {SERVER_FRAME_TYPES}"
        # The union's best match is often a sibling branch; explain against the frame's own type.
        return self._by_type[kind].error(frame) or error

    def legacy_error(self, frame: Any) -> str | None:
        """Why ``frame`` is not a valid legacy server frame (legacy.md), or ``None`` if it is."""
        return self._legacy.error(frame)

    def _data_validator(self, schema_id: str) -> _Checked | None:
        if schema_id not in self._data:
            validator = None
            try:
                schema = self._registry.contents(schema_id)
            except LookupError:
                schema = None
            # Custom channels may name schemas the suite does not ship: nothing to check then.
            if isinstance(schema, Mapping) and "event" in schema.get("$defs", {}):
                validator = self._checked(schema_id + "#/$defs/event")
            self._data[schema_id] = validator
        return self._data[schema_id]

    def data_error(self, schema_id: str, data: Any) -> str | None:
        """Why ``data`` is not a valid event of the channel schema ``schema_id``, or ``None``."""
        validator = self._data_validator(schema_id)
        if validator is None:
            return None
        return validator.error(data, prefix="/data")


@cache
def shared_validator() -> FrameValidator:
    return FrameValidator()
