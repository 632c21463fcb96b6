"""The Canaux JSON Schemas (2020-12), shipped as package data.

This folder is the single copy of the schemas in the repository; installed code reads
them through :mod:`importlib.resources`, never from a checkout path. Both the reference
implementation and the conformance suite load schemas from here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "CHANNEL_SCHEMAS",
    "FRAME_SCHEMA_ID",
    "SCHEMA_BASE_URI",
    "all_schemas",
    "load",
    "registry",
    "requirements",
    "schema_id",
    "vectors",
]

SCHEMA_BASE_URI = "https://canaux.dev/schemas/v1/"
"""Every schema's ``$id`` is this base followed by its path inside the package."""

FRAME_SCHEMA_ID = SCHEMA_BASE_URI + "frame.json"

CHANNEL_SCHEMAS = {
    name: f"{SCHEMA_BASE_URI}channels/{name}.json"
    for name in ("chat", "playqueue", "system", "progress", "conformance")
}
"""Standard channel (and the conformance family) → ``$id`` of its data schema."""

_SCHEMA_DIRS = ("", "channels")


def _root() -> Any:
    return resources.files(__name__)


def schema_id(relative_path: str) -> str:
    """The ``$id`` of the schema stored at ``relative_path`` (e.g. ``channels/chat.json``)."""
    return SCHEMA_BASE_URI + relative_path


@cache
def _load_text(relative_path: str) -> str:
    node = _root()
    for part in relative_path.split("/"):
        node = node / part
    text: str = node.read_text(encoding="utf-8")
    return text


def load(relative_path: str) -> dict[str, Any]:
    """Parse and return the schema (or vector file) at ``relative_path``; a fresh copy each call."""
    value: dict[str, Any] = json.loads(_load_text(relative_path))
    return value


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema in the package, keyed by its path.

    A schema is a JSON file of the top folder or ``channels/`` with a ``$schema`` member;
    data files (the requirement index, the test vectors) are not schemas.
    """
    found: dict[str, dict[str, Any]] = {}
    for folder in _SCHEMA_DIRS:
        node = _root() / folder if folder else _root()
        for entry in sorted(node.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                path = f"{folder}/{entry.name}" if folder else entry.name
                document = load(path)
                if "$schema" in document:
                    found[path] = document
    return found


def requirements() -> list[dict[str, Any]]:
    """The requirement index extracted from spec/: one entry per requirement ID, in spec order."""
    index: list[dict[str, Any]] = load("requirements.json")["requirements"]
    return index


@cache
def registry() -> Registry[Any]:
    """A :class:`referencing.Registry` holding every schema under its ``$id``."""
    resources_ = [
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        for schema in all_schemas().values()
    ]
    return Registry().with_resources(resources_)


def vectors() -> list[dict[str, Any]]:
    """Every test vector file in ``vectors/``, parsed, in name order."""
    node = _root() / "vectors"
    return [
        load(f"vectors/{entry.name}")
        for entry in sorted(node.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    ]
