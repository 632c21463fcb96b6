"""Equality and interoperability of decoded JSON values, as the delivery checks need them
(JSON-equal: spec index.md "Notational conventions").

``json_equal`` compares the way JSON means (``1`` and ``1.0`` are one number, ``true`` is not
``1``); ``interoperable`` says whether a value survives every implementation exactly (RFC 8259
§6: IEEE doubles, integers within 2^53), which is what the machine publishes.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_SAFE_INT", "interoperable", "json_equal", "show_json"]

MAX_SAFE_INT = 2**53
"""Integers strictly between -2^53 and 2^53 are exact in every JSON implementation."""


def json_equal(a: Any, b: Any) -> bool:
    """Equality of two decoded JSON values [DELIVERY-5].

    Numbers compare by value (``1`` and ``1.0`` are the same JSON number), but ``true`` is not
    ``1``; objects compare member by member, arrays element by element.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def show_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def interoperable(value: Any) -> bool:
    """True for JSON every implementation can carry exactly (RFC 8259 §6: doubles, 2^53)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -MAX_SAFE_INT < value < MAX_SAFE_INT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(interoperable(v) for v in value)
    if isinstance(value, dict):
        return all(interoperable(v) for v in value.values())
    return False
