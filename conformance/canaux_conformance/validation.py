"""Schema checks of what a server sends: frames (frame.json), channel data, legacy frames (§3, §12).

Also :func:`catalogue_entry`, the catalogue lookup of a channel name [CHANNEL-2].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

import canaux_schemas

__all__ = ["SERVER_FRAME_TYPES", "FrameValidator", "catalogue_entry", "shared_validator"]

SERVER_FRAME_TYPES = ("welcome", "ack", "error", "event", "ping", "pong")
"""The frames a server sends (spec §3)."""


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


class FrameValidator:
    """JSON Schema checks of server frames and channel event data, from ``canaux_schemas``."""

    def __init__(self) -> None:
        self._registry = canaux_schemas.registry()
        self._frame = Draft202012Validator(
            {"$ref": canaux_schemas.FRAME_SCHEMA_ID + "#/$defs/server_frame"},
            registry=self._registry,
        )
        self._by_type = {
            kind: Draft202012Validator(
                {"$ref": f"{canaux_schemas.FRAME_SCHEMA_ID}#/$defs/{kind}"}, registry=self._registry
            )
            for kind in SERVER_FRAME_TYPES
        }
        self._data: dict[str, Draft202012Validator | None] = {}
        self._legacy = Draft202012Validator(
            {"$ref": canaux_schemas.SCHEMA_BASE_URI + "legacy.json#/$defs/server_frame"},
            registry=self._registry,
        )

    def frame_error(self, frame: Any) -> str | None:
        """Why ``frame`` is not a valid server frame, or ``None`` if it is."""
        error = best_match(self._frame.iter_errors(frame))
        if error is None:
            return None
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind not in SERVER_FRAME_TYPES:
            return f"'type' is {kind!r}, not one of the server frame types {SERVER_FRAME_TYPES}"
        # The union's best match is often a sibling branch; explain against the frame's own type.
        error = best_match(self._by_type[kind].iter_errors(frame)) or error
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        return f"at {where}: {error.message}"

    def legacy_error(self, frame: Any) -> str | None:
        """Why ``frame`` is not a valid legacy server frame (§12), or ``None`` if it is."""
        error = best_match(self._legacy.iter_errors(frame))
        if error is None:
            return None
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        return f"at {where}: {error.message}"

    def _data_validator(self, schema_id: str) -> Draft202012Validator | None:
        if schema_id not in self._data:
            validator = None
            try:
                schema = self._registry.contents(schema_id)
            except LookupError:
                schema = None
            # Custom channels may name schemas the suite does not ship: nothing to check then.
            if isinstance(schema, Mapping) and "event" in schema.get("$defs", {}):
                validator = Draft202012Validator(
                    {"$ref": schema_id + "#/$defs/event"}, registry=self._registry
                )
            self._data[schema_id] = validator
        return self._data[schema_id]

    def data_error(self, schema_id: str, data: Any) -> str | None:
        """Why ``data`` is not a valid event of the channel schema ``schema_id``, or ``None``."""
        validator = self._data_validator(schema_id)
        if validator is None:
            return None
        error = best_match(validator.iter_errors(data))
        if error is None:
            return None
        where = "/data/" + "/".join(str(p) for p in error.absolute_path)
        return f"at {where.rstrip('/')}: {error.message}"


@cache
def shared_validator() -> FrameValidator:
    return FrameValidator()
