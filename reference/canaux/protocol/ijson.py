"""The I-JSON door: every JSON text the reference reads from a peer passes here
(spec transport.md, "I-JSON").

Frames are I-JSON messages (RFC 7493) [TRANSPORT-17]. :func:`loads` reads a text message, an
HTTP body or a legacy frame and raises :class:`IJsonError` (a :class:`ValueError`) when the text
is not JSON, or is JSON that I-JSON forbids [TRANSPORT-18]: an escaped lone surrogate, a Unicode
noncharacter, a duplicate member name [TRANSPORT-12], a number beyond a double or an integer
literal beyond 2**53 - 1, a nonzero number that a double rounds to zero, nesting deeper than
:data:`MAX_DEPTH`. Whatever it returns, :func:`dumps` writes back exactly, so nothing that
entered can make a later write fail for another session [TRANSPORT-20].

The common case stays on orjson: one ``orjson.loads``, two ``count`` calls and one regular
expression search over the text, and one walk over the decoded value. Only text that these
cheap checks cannot clear (a ``\\u`` escape of a surrogate or noncharacter, a float that is zero
or huge, a ``:`` inside a string, many brackets) is read again, slowly and exactly, by the
standard library with hooks that see every number's literal and every object's members.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

from canaux.protocol.errors import ProtocolError

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "IJsonError",
    "UnencodableValue",
    "dumps",
    "encode_value",
    "loads",
]

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""The largest integer literal a frame may hold [TRANSPORT-18] (5), [TRANSPORT-10]."""
MAX_DEPTH: Final = 64
"""Deepest nesting of objects and arrays, the frame object being at depth 1 [TRANSPORT-18] (7)."""


class IJsonError(ProtocolError, ValueError):
    """A text that is not JSON, or JSON that is not I-JSON [TRANSPORT-5, TRANSPORT-18].

    ``message`` is short, lowercase and fits a close reason; ``pointer`` locates the fault
    (RFC 6901) when it is known, ``None`` otherwise.
    """

    def __init__(self, message: str, pointer: str | None = None) -> None:
        where = f" at {pointer or '/'}" if pointer is not None else ""
        super().__init__(f"{message}{where}")
        self.message = message
        self.pointer = pointer


# Code points no I-JSON string holds [TRANSPORT-18] (1), (2): surrogates, U+FDD0..U+FDEF, and
# the last two code points of each of the 17 planes.
_NONCHARACTERS: Final = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_BAD_CHAR: Final = re.compile(f"[\ud800-\udfff{_NONCHARACTERS}]")
# What the fast path must send to the slow one: a raw noncharacter (only possible in text that
# is not ASCII), or an escape that may spell a surrogate (even in a valid pair, which may form a
# supplementary noncharacter) or a BMP noncharacter. An escaped backslash followed by "u" also
# matches: the slow path is exact. Each search runs only when a cheap test says it may match.
# A superset (every code point from U+1FFFE up) keeps the class small, and so the search fast.
_RAW_TEXT: Final = re.compile("[\ufdd0-\ufdef\ufffe\uffff\U0001fffe-\U0010ffff]")
_RAW_BYTES: Final = re.compile(
    rb"\xef\xb7[\x90-\xaf]|\xef\xbf[\xbe\xbf]|[\xf0-\xf4][\x8f\x9f\xaf\xbf]\xbf[\xbe\xbf]"
)
_ESCAPE_TEXT: Final = re.compile(r"\\u(?:[dD][89a-fA-F]|[fF][dD][d-eD-E]|[fF][fF][fF][eEfF])")
_ESCAPE_BYTES: Final = re.compile(rb"\\u(?:[dD][89a-fA-F]|[fF][dD][d-eD-E]|[fF][fF][fF][eEfF])")
_MANTISSA_DIGIT: Final = re.compile(r"[1-9]")


class UnencodableValue(IJsonError, TypeError):
    """A value :func:`dumps` cannot write as I-JSON; a :class:`TypeError` too, like ``json``'s."""


class _Slow(Exception):
    """The fast path cannot clear the text; read it again exactly."""


class _Fault:
    """A value the slow reader met that I-JSON forbids; :func:`_walk` reports where it is."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class _Duplicated(dict[str, Any]):
    """An object whose text named a member twice [TRANSPORT-12]."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        return _Duplicated(value)
    return value


def _integer(literal: str) -> int | _Fault:
    # [TRANSPORT-18] (4), (5): the digit count is checked first, since int() refuses to read
    # more than 4300 digits.
    digits = len(literal) - (literal[0] == "-")
    if digits > 16 or abs(value := int(literal)) > MAX_SAFE_INTEGER:
        return _Fault("integer beyond 2**53-1")
    return value


def _float(literal: str) -> float | _Fault:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        return _Fault("number too large for a double")  # [TRANSPORT-18] (4)
    if value == 0.0 and _MANTISSA_DIGIT.search(literal.split("e")[0].split("E")[0]):
        return _Fault("nonzero number that a double rounds to zero")  # [TRANSPORT-18] (6)
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not json")


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _walk(value: Any) -> None:
    """Raise :class:`IJsonError` for the first fault, in document order, of a slow read."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, pointer, depth = stack.pop()
        if isinstance(item, _Fault):
            raise IJsonError(item.message, pointer)
        if isinstance(item, str):
            if _BAD_CHAR.search(item):
                raise IJsonError("string holds a lone surrogate or a noncharacter", pointer)
        elif isinstance(item, dict):
            if depth > MAX_DEPTH:
                raise IJsonError(f"nested deeper than {MAX_DEPTH}", pointer)
            if isinstance(item, _Duplicated):
                raise IJsonError("duplicate member name", pointer)
            children = []
            for name, member in item.items():
                if _BAD_CHAR.search(name):
                    raise IJsonError("name holds a lone surrogate or a noncharacter", pointer)
                children.append((member, f"{pointer}/{_escape(name)}", depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            if depth > MAX_DEPTH:
                raise IJsonError(f"nested deeper than {MAX_DEPTH}", pointer)
            stack.extend(
                (member, f"{pointer}/{index}", depth + 1)
                for index, member in reversed(list(enumerate(item)))
            )


def _slow_loads(text: str | bytes) -> Any:
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RecursionError:
        # Deeper than the standard library reads: far beyond MAX_DEPTH, JSON or not (both are
        # closed with 1007, so which one it is does not matter).
        raise IJsonError(f"nested deeper than {MAX_DEPTH}") from None
    except ValueError:
        raise IJsonError("not valid json") from None
    _walk(value)
    return value


def _counts(text: str | bytes) -> tuple[int, int]:
    # The ":" and the opening brackets of the text, strings included (so both are upper bounds).
    if isinstance(text, str):
        return text.count(":"), text.count("[") + text.count("{")
    return text.count(b":"), text.count(b"[") + text.count(b"{")


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict:
            deepest = max(deepest, depth)
            stack.extend((member, depth + 1) for member in item.values())
        elif type(item) is list:
            deepest = max(deepest, depth)
            stack.extend((member, depth + 1) for member in item)
    return deepest


def _fast_check(value: Any, text: str | bytes) -> None:
    """Raise :class:`_Slow` unless ``value`` (orjson's reading of ``text``) is surely I-JSON."""
    if isinstance(text, str):
        if (not text.isascii() and _RAW_TEXT.search(text)) or (
            "\\u" in text and _ESCAPE_TEXT.search(text)
        ):
            raise _Slow
    elif (not text.isascii() and _RAW_BYTES.search(text)) or (
        b"\\u" in text and _ESCAPE_BYTES.search(text)
    ):
        raise _Slow
    members = 0
    stack: list[Any] = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            members += len(item)
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is int:
            # orjson reads integers of up to 64 bits exactly; beyond that it gives a float.
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                raise _Slow
        elif kind is float and (item == 0.0 or not -9e18 < item < 9e18):
            # A zero may have been written 1e-400; a float this large may have been an integer
            # literal of more than 64 bits.
            raise _Slow
    colons, brackets = _counts(text)
    # Every member name is followed by a ":" outside strings: with exactly as many ":" in the
    # text as members in the value, no object named a member twice [TRANSPORT-12].
    if members != colons:
        raise _Slow
    # There are at least as many brackets as containers, so few brackets means no deep nesting.
    if brackets > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise _Slow


def loads(text: str | bytes) -> Any:
    """Read ``text`` as one I-JSON value; raise :class:`IJsonError` when it is not one.

    [TRANSPORT-5] not JSON, and [TRANSPORT-18] JSON that I-JSON forbids, both raise; the
    caller closes with 1007 (WebSocket, legacy) or answers 400 ``bad_frame`` (HTTP).
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogates, numbers beyond a double, deep nesting, and non-JSON;
        # the slow reader tells which.
        return _slow_loads(text)
    try:
        _fast_check(value, text)
    except _Slow:
        return _slow_loads(text)
    return value


def dumps(value: Any) -> str:
    """Compact JSON text of a value :func:`loads` returned (or any other I-JSON value).

    Raise :class:`UnencodableValue` for a value JSON cannot hold (a lone surrogate, an integer
    beyond 64 bits, a non-JSON type): never a fallback that writes text no receiver reads back
    as it was [TRANSPORT-20].
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise UnencodableValue(f"value cannot be sent as i-json: {exc}") from None


def encode_value(value: Any) -> str:
    """:func:`dumps` for data that did not come through :func:`loads` (the server's own code).

    The text is read back through the door, so a noncharacter or an integer beyond 2**53 - 1
    that orjson would write is refused here, at its source, with :class:`IJsonError`
    [TRANSPORT-20].
    """
    text = dumps(value)
    loads(text)
    return text
