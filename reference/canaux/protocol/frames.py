"""Frame models: one pydantic model per frame type (spec frames.md, schemas/frame.json).

The models accept exactly the JSON values ``schemas/frame.json`` accepts, with JSON Schema's
notion of types: a boolean is never an integer and ``1.0`` is the integer ``1``. Unknown
members are ignored on input and never reproduced on output [TRANSPORT-7].

:func:`parse_client_frame` turns a decoded JSON object into a :data:`ClientFrame` or raises
:class:`FrameError` carrying an RFC 6901 pointer into the offending frame [OPS-8];
:func:`encode` turns any frame back into compact JSON text; :func:`decode_json` reads frame
text the way every receiver must [TRANSPORT-5].
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from canaux.protocol import ijson
from canaux.protocol.codes import HTTP_ONLY_ERROR_CODES, ErrorCode
from canaux.protocol.errors import FrameError, LocalProtocolError

__all__ = [
    "CATALOGUE_NAME_PATTERN",
    "CHANNEL_NAME_PATTERN",
    "CLIENT_FRAME_TYPES",
    "FRAME_ID_PATTERN",
    "FRAME_TYPES",
    "JSON_POINTER_PATTERN",
    "POINTER_REQUIRED",
    "PROTOCOL_VERSION",
    "SCHEMA_URI_PATTERN",
    "SERVER_FRAME_TYPES",
    "SESSION_ID_PATTERN",
    "Ack",
    "CatalogueEntry",
    "ClientFrame",
    "Error",
    "Event",
    "Frame",
    "FrameError",
    "Hello",
    "Limits",
    "Ping",
    "Pong",
    "Publish",
    "ResumeRequest",
    "ServerFrame",
    "Subscribe",
    "Unsubscribe",
    "Welcome",
    "decode_json",
    "dumps",
    "encode",
    "error_text",
    "event_frame",
    "event_text",
    "parse_client_frame",
    "parse_frame",
    "parse_server_frame",
    "text_bytes",
    "to_json_object",
]

PROTOCOL_VERSION: Final = 1
"""The protocol version this implementation speaks (``hello.version``, ``welcome.version``)."""

# The patterns of schemas/frame.json, searched with Python's ``re`` exactly as the
# ``jsonschema`` validator does, so that the models and the schemas never disagree (even on
# the one point where Python departs from ECMA-262: ``$`` also matches before a final "\n";
# such a name then fails the stricter checks of ``channels`` and is an unknown channel).
FRAME_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,64}$"
SESSION_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{22,128}$"
CHANNEL_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"
CATALOGUE_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*(\.\*)?$"
SCHEMA_URI_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$"
JSON_POINTER_PATTERN: Final = r"^(/([^/~]|~[01])*)*$"
_RESERVED_NAME = re.compile(r"^canaux(\.|$)")


def _json_integer(value: object) -> object:
    # JSON Schema's "integer": any number with a zero fractional part (so 1.0 counts) but
    # never a boolean, although Python's bool is an int subclass.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "must be an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _not_reserved(name: str) -> str:
    # [CHANNEL-6] names whose first segment is "canaux" never appear in a catalogue.
    if _RESERVED_NAME.search(name):
        raise PydanticCustomError("reserved_name", "reserved channel name")
    return name


POINTER_REQUIRED: Final = frozenset(
    {ErrorCode.BAD_FRAME, ErrorCode.INVALID_PAYLOAD, ErrorCode.INVALID_COMMAND}
)
"""Error codes whose ``error`` frame must carry ``pointer`` (schemas/frame.json)."""

_WIRE: Final = {"wire": True}
"""Validation context of frames read from the wire (the parse functions pass it)."""


def _not_null(value: object, info: ValidationInfo) -> object:
    # On the wire an optional member may be absent, but JSON null is not one of its values
    # (the schemas say so). In Python code None stands for "absent" and is accepted.
    if value is None and info.context is not None and info.context.get("wire"):
        raise PydanticCustomError("not_null", "must not be null")
    return value


NotNull: Final = BeforeValidator(_not_null)


def _frame_error_code(code: ErrorCode) -> ErrorCode:
    # The HTTP-only codes are in the registry but not in schemas/frame.json's error_code.
    if code in HTTP_ONLY_ERROR_CODES:
        raise PydanticCustomError("enum", "not an error frame code")
    return code


# [TRANSPORT-10] the integers this specification defines are at most 2**53 - 1.
JsonInt: TypeAlias = Annotated[
    StrictInt, BeforeValidator(_json_integer), Field(le=ijson.MAX_SAFE_INTEGER)
]
FrameId: TypeAlias = Annotated[
    StrictStr, Field(min_length=1, max_length=64, pattern=FRAME_ID_PATTERN)
]
SessionId: TypeAlias = Annotated[
    StrictStr, Field(min_length=22, max_length=128, pattern=SESSION_ID_PATTERN)
]
# [CHANNEL-1] name = segment *("." segment), at most 128 characters.
ChannelName: TypeAlias = Annotated[
    StrictStr, Field(min_length=1, max_length=128, pattern=CHANNEL_NAME_PATTERN)
]
CatalogueName: TypeAlias = Annotated[
    StrictStr,
    Field(min_length=1, max_length=128, pattern=CATALOGUE_NAME_PATTERN),
    AfterValidator(_not_reserved),
]
SchemaUri: TypeAlias = Annotated[
    StrictStr, Field(min_length=1, max_length=2048, pattern=SCHEMA_URI_PATTERN)
]
JsonPointer: TypeAlias = Annotated[StrictStr, Field(pattern=JSON_POINTER_PATTERN)]
Nonce: TypeAlias = Annotated[StrictStr, Field(max_length=64)]


class _Model(BaseModel):
    # Extra members are dropped, not rejected [TRANSPORT-7]; instances are immutable so a
    # frame can be shared (e.g. kept in a pending map) without copies.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=False, regex_engine="python-re")


class ResumeRequest(_Model):
    """``hello.resume``: the session to resume and the last seq received contiguously [RESUME-1]."""

    session: SessionId
    seq: Annotated[JsonInt, Field(ge=0)]


class Limits(_Model):
    """``welcome.limits``: the limits the server enforces [LIMIT-1]."""

    max_frame_bytes: Annotated[JsonInt, Field(ge=4096)]
    max_subscriptions: Annotated[JsonInt, Field(ge=8)]
    max_rate: Annotated[JsonInt, Field(ge=10)]
    resume_window_ms: Annotated[JsonInt, Field(ge=0)]
    resume_buffer: Annotated[JsonInt, Field(ge=1)]
    # Optional in v1 [LIMIT-11, LIMIT-4, LIMIT-12]: a server of before them stays valid.
    resume_buffer_bytes: Annotated[JsonInt, Field(ge=65536)] | None = None
    outbound_queue: Annotated[JsonInt, Field(ge=1)] | None = None
    outbound_queue_bytes: Annotated[JsonInt, Field(ge=65536)] | None = None
    max_detached_sessions: Annotated[JsonInt, Field(ge=1)] | None = None


class CatalogueEntry(_Model):
    """One ``welcome.channels`` entry: a channel name or a family ``prefix.*`` [CHANNEL-2]."""

    name: CatalogueName
    publish: Literal["client", "server"]
    schema_: Annotated[SchemaUri, Field(alias="schema")]

    model_config = ConfigDict(populate_by_name=True)


class Hello(_Model):
    """Client → server, the first frame of a connection [HANDSHAKE-1]."""

    type: Literal["hello"] = "hello"
    version: Annotated[JsonInt, Field(ge=1)]
    token: Annotated[Annotated[StrictStr, Field(min_length=1, max_length=4096)] | None, NotNull] = (
        None
    )
    resume: Annotated[ResumeRequest | None, NotNull] = None


class Welcome(_Model):
    """Server → client, the answer to ``hello`` [HANDSHAKE-2, HANDSHAKE-9]."""

    type: Literal["welcome"] = "welcome"
    version: Annotated[JsonInt, Field(ge=1)]
    session: SessionId
    resumed: StrictBool
    seq: Annotated[JsonInt, Field(ge=0)]
    heartbeat_ms: Annotated[JsonInt, Field(ge=1000, le=300000)]
    limits: Limits
    channels: list[CatalogueEntry]


class Subscribe(_Model):
    """Client → server: start receiving a channel's events [OPS-1]."""

    type: Literal["subscribe"] = "subscribe"
    id: FrameId
    channel: ChannelName


class Unsubscribe(_Model):
    """Client → server: stop receiving a channel's events [OPS-1]."""

    type: Literal["unsubscribe"] = "unsubscribe"
    id: FrameId
    channel: ChannelName


class Publish(_Model):
    """Client → server: publish ``data`` on a channel [OPS-1, OPS-7]."""

    type: Literal["publish"] = "publish"
    id: FrameId
    channel: ChannelName
    data: Any  # required, and ``null`` is a valid value: the channel schema decides


class Ack(_Model):
    """Server → client: the client frame ``id`` was applied [OPS-1]."""

    type: Literal["ack"] = "ack"
    id: FrameId


class Error(_Model):
    """Server → client: a refused client frame, or a frame that could not be read [OPS-1, OPS-8]."""

    type: Literal["error"] = "error"
    code: Annotated[ErrorCode, AfterValidator(_frame_error_code)]
    message: StrictStr
    # Any string: an error may answer a frame whose id was itself malformed [OPS-8].
    id: Annotated[StrictStr | None, NotNull] = None
    channel: Annotated[ChannelName | None, NotNull] = None
    pointer: Annotated[JsonPointer | None, NotNull] = None

    @model_validator(mode="after")
    def _pointer_when_locatable(self) -> Error:
        # [OPS-8] [CHANNEL-5] [QUEUE-3] these codes always say where the fault is.
        if self.pointer is None and self.code in POINTER_REQUIRED:
            raise PydanticCustomError(
                "missing_member",
                "pointer is required for code {code}",
                {"member": "pointer", "code": self.code.value},
            )
        return self


class Event(_Model):
    """Server → client: one event of a channel, numbered per session [DELIVERY-1]."""

    type: Literal["event"] = "event"
    seq: Annotated[JsonInt, Field(ge=1)]
    channel: ChannelName
    data: Any


class Ping(_Model):
    """Either direction: a heartbeat probe [HEARTBEAT-1, HEARTBEAT-2]."""

    type: Literal["ping"] = "ping"
    nonce: Annotated[Nonce | None, NotNull] = None


class Pong(_Model):
    """Either direction: the answer to a ``ping``, echoing its ``nonce`` [HEARTBEAT-2]."""

    type: Literal["pong"] = "pong"
    nonce: Annotated[Nonce | None, NotNull] = None


ClientFrame: TypeAlias = Annotated[
    Hello | Subscribe | Unsubscribe | Publish | Ping | Pong, Field(discriminator="type")
]
ServerFrame: TypeAlias = Annotated[
    Welcome | Ack | Error | Event | Ping | Pong, Field(discriminator="type")
]
Frame: TypeAlias = (
    Hello | Welcome | Subscribe | Unsubscribe | Publish | Ack | Error | Event | Ping | Pong
)

CLIENT_FRAME_TYPES: Mapping[str, type[_Model]] = {
    "hello": Hello,
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "publish": Publish,
    "ping": Ping,
    "pong": Pong,
}
SERVER_FRAME_TYPES: Mapping[str, type[_Model]] = {
    "welcome": Welcome,
    "ack": Ack,
    "error": Error,
    "event": Event,
    "ping": Ping,
    "pong": Pong,
}


def _escape(token: str | int) -> str:
    # RFC 6901 §3: "~" is written "~0" and "/" is written "~1".
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "missing_member":
        loc = (*loc, error["ctx"]["member"])
    return "".join("/" + _escape(part) for part in loc)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind in ("missing", "missing_member"):
        return "required"
    if kind == "string_pattern_mismatch":
        return "does not match the pattern"
    text = str(error["msg"])
    # pydantic messages start with a capital ("Input should be ..."); ours are lowercase.
    return text[:1].lower() + text[1:]


def _frame_id(obj: Mapping[str, Any]) -> str | None:
    # [OPS-8] the bad_frame error carries the id "if the frame had a string id".
    candidate = obj.get("id")
    return candidate if isinstance(candidate, str) else None


def _parse(obj: object, types: Mapping[str, type[_Model]], side: str) -> Any:
    if not isinstance(obj, dict):
        raise FrameError("", "frame must be a json object")
    kind = obj.get("type")
    if "type" not in obj:
        raise FrameError("/type", "required", _frame_id(obj))
    model = types.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise FrameError("/type", f"not a {side} frame type", _frame_id(obj))
    try:
        return model.model_validate(obj, context=_WIRE)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=True)[0]
        raise FrameError(_pointer(first), _message(first), _frame_id(obj)) from None


FRAME_TYPES: Mapping[str, type[_Model]] = {**CLIENT_FRAME_TYPES, **SERVER_FRAME_TYPES}


def parse_frame(obj: object) -> Frame:
    """Validate a decoded JSON value as a frame of either direction; raise :class:`FrameError`."""
    frame: Frame = _parse(obj, FRAME_TYPES, "known")
    return frame


def parse_client_frame(obj: object) -> ClientFrame:
    """Validate a decoded JSON value as a client → server frame; raise :class:`FrameError`."""
    frame: ClientFrame = _parse(obj, CLIENT_FRAME_TYPES, "client")
    return frame


def parse_server_frame(obj: object) -> ServerFrame:
    """Validate a decoded JSON value as a server → client frame; raise :class:`FrameError`."""
    frame: ServerFrame = _parse(obj, SERVER_FRAME_TYPES, "server")
    return frame


def decode_json(text: str | bytes) -> Any:
    """Parse frame text as an I-JSON value; raise :class:`ValueError` when it is not one.

    This is the one door of every transport (WebSocket frames, legacy sockets, the HTTP publish
    body): the reference's :func:`canaux.protocol.ijson.loads`, which refuses text that is not
    JSON [TRANSPORT-5] and JSON that I-JSON forbids [TRANSPORT-18] with an
    :class:`~canaux.protocol.ijson.IJsonError`, so that everything it returns can be written
    back exactly by :func:`dumps` [TRANSPORT-20].
    """
    return ijson.loads(text)


def to_json_object(frame: Frame) -> dict[str, Any]:
    """The frame as a JSON object: declared members only, optional members left out when unset."""
    out: dict[str, Any] = {}
    for name, field in type(frame).model_fields.items():
        value = getattr(frame, name)
        if value is None and not field.is_required():
            continue
        if isinstance(value, BaseModel):
            value = to_json_object(value)  # type: ignore[arg-type]
        elif isinstance(value, list):
            value = [to_json_object(v) if isinstance(v, BaseModel) else v for v in value]  # type: ignore[arg-type]
        out[field.alias or name] = value
    return out


def encode(frame: Frame | Limits | CatalogueEntry | ResumeRequest) -> str:
    """Compact JSON text of a frame (no insignificant whitespace, no unset optional member)."""
    return dumps(to_json_object(frame))  # type: ignore[arg-type]


def dumps(value: Any) -> str:
    """Compact JSON text of a JSON value; raise :class:`ValueError` for one I-JSON cannot hold.

    There is no fallback: a value that orjson cannot write (a lone surrogate, an integer beyond
    64 bits) never came through :func:`decode_json`, and writing it some other way would give
    every receiver text it cannot read back [TRANSPORT-20].
    """
    return ijson.dumps(value)


def text_bytes(text: str) -> int:
    """Length of frame ``text`` in bytes of UTF-8, as every byte bound counts it [LIMIT-11].

    ``isascii()`` is constant time on CPython, so the common case costs no encoding.
    """
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


_EVENT_PREFIX: Final = '{"type":"event","seq":'
_EVENT_PREFIX_BYTES: Final = len(_EVENT_PREFIX)

# The last event's channel, data (the very object fan-out hands every session), the rest of its
# frame after the seq, and that rest's UTF-8 length. The data is held here, so the identity
# test below can never match another object at a reused address.
_last_event: tuple[str, str, str, int] = ("", "", "", 0)


def event_frame(seq: int, channel: str, data_json: str) -> tuple[str, int]:
    """The text of an ``event`` frame whose ``data`` is already encoded, and its UTF-8 length.

    Only ``seq`` differs between sessions [DELIVERY-1]: fan-out hands every subscriber the same
    ``data_json`` object, so the rest of the frame (channel and data) and its byte length are
    built once per event and only the seq is spliced in per session. The length is exact, as
    the byte bounds count it [LIMIT-4, LIMIT-10, LIMIT-11]: the seq's digits are ASCII.
    """
    global _last_event
    last = _last_event
    if last[1] is data_json and last[0] == channel:
        suffix, suffix_bytes = last[2], last[3]
    else:
        # A valid channel name [CHANNEL-1] never needs escaping, but dumps() keeps this safe
        # for any string.
        suffix = f',"channel":{dumps(channel)},"data":{data_json}}}'
        suffix_bytes = text_bytes(suffix)
        _last_event = (channel, data_json, suffix, suffix_bytes)
    digits = str(seq)
    return f"{_EVENT_PREFIX}{digits}{suffix}", _EVENT_PREFIX_BYTES + len(digits) + suffix_bytes


def event_text(seq: int, channel: str, data_json: str) -> str:
    """The text of an ``event`` frame whose ``data`` is already encoded as ``data_json``
    (see :func:`event_frame`)."""
    return event_frame(seq, channel, data_json)[0]


def error_text(
    code: ErrorCode,
    message: str,
    *,
    id: str | None = None,
    channel: str | None = None,
    pointer: str | None = None,
) -> str:
    """The text of an ``error`` frame; raise :class:`LocalProtocolError` if it would be invalid
    (e.g. ``invalid_command`` without ``pointer``)."""
    try:
        error = Error(code=code, message=message, id=id, channel=channel, pointer=pointer)
    except ValidationError as exc:
        raise LocalProtocolError(f"invalid error frame: {exc.errors()[0]['msg']}") from None
    return encode(error)
