"""What the suite may publish: I-JSON values (RFC 7493), as the spec requires [TRANSPORT-17].

A server closes with 1007 on anything else [TRANSPORT-18], so generated payloads are filtered
with :func:`is_i_json` before they are sent; the robustness cases send the rest on purpose.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

__all__ = ["MAX_DEPTH", "MAX_SAFE_INTEGER", "NONCHARACTERS", "is_i_json", "readable_json"]

MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_DEPTH: Final = 64
"""Deepest nesting in a frame, the frame object being at depth 1 [TRANSPORT-18] (7)."""
NONCHARACTERS: Final = tuple(chr(c) for c in range(0xFDD0, 0xFDF0)) + tuple(
    chr(plane * 0x10000 + low) for plane in range(17) for low in (0xFFFE, 0xFFFF)
)
_BAD_CHAR: Final = re.compile("[\ud800-\udfff" + "".join(NONCHARACTERS) + "]")


def is_i_json(value: Any, depth: int = 2) -> bool:
    """True when ``value``, placed as a frame's ``data`` (depth 2), is I-JSON [TRANSPORT-17]."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return _BAD_CHAR.search(value) is None
    if isinstance(value, int):
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return depth <= MAX_DEPTH and all(is_i_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return depth <= MAX_DEPTH and all(
            isinstance(k, str) and _BAD_CHAR.search(k) is None and is_i_json(v, depth + 1)
            for k, v in value.items()
        )
    return False


def readable_json(value: Any, **options: Any) -> str:
    """JSON text for a report, non-ASCII left readable unless the value holds a lone surrogate.

    The robustness cases send lone surrogates on purpose; their replay must still print and be
    written as UTF-8, so such a value falls back to ``\\u`` escapes (still the same JSON).
    """
    text = json.dumps(value, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, **options)
    return text
