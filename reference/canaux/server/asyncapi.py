"""The AsyncAPI 3.0 description of a Canaux server, generated from its schemas and catalogue.

The document describes a Canaux *server*: it receives client frames on the ``/ws``
connection and sends server frames; each channel of its catalogue is an AsyncAPI channel whose
messages are the ``publish`` and ``event`` frames carrying that channel's data. Every
payload is a ``$ref`` into schema files published beside the document (``./schemas/…``), and
the set of frames and channels is read from those files, so the document cannot drift.

One builder serves two callers: the spec site (``docs/sitegen/asyncapi.py``: the protocol, its
channels read from ``schemas/channels/``) and a running server (``GET /asyncapi.json``: its
own catalogue, app channels included, see :mod:`canaux.server.description`). Both documents
are validated by the official ``@asyncapi/parser`` in the tests (``docs/asyncapi/validate.mjs``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "DocumentChannel",
    "build_document",
    "channel_names",
    "frame_directions",
    "schema_channels",
]

PROTOCOL_VERSION = 1
"""The protocol version this document describes (subprotocol ``canaux.v1``)."""

_FRAME = "frame.json"
_LEGACY = "legacy.json"
_LEGACY_ENDPOINTS = {
    "legacyChat": ("/ws/chat", "Legacy chat socket", "chat"),
    "legacySystem": ("/api/ws", "Legacy system socket", "system and progress"),
}
_REPLIES = {"hello": ("welcome",), "subscribe": ("ack", "error"), "unsubscribe": ("ack", "error")}
_PUBLISH_REPLY = ("ack", "error")
_SEGMENTS = r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"


@dataclass(frozen=True, slots=True)
class DocumentChannel:
    """One catalogue entry as the document describes it."""

    name: str
    """The catalogue name: a channel (``chat``, ``library``) or a family (``conformance.*``)."""
    schema_path: str
    """Where its schema document is published, relative to ``./schemas/``."""
    schema: Mapping[str, Any]
    """That document: ``$defs/event``, and ``$defs/publish`` when clients publish [CHANNEL-11]."""

    @property
    def is_family(self) -> bool:
        return self.name.endswith(".*")

    @property
    def key(self) -> str:
        """The AsyncAPI channel key: the name, or a family's prefix (``conformance``)."""
        return self.name[:-2] if self.is_family else self.name


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def frame_directions(frame_schema: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(client → server frame types, server → client frame types) read from ``frame.json``."""
    defs = frame_schema["$defs"]
    client = [_ref_name(option["$ref"]) for option in defs["client_frame"]["oneOf"]]
    server = [_ref_name(option["$ref"]) for option in defs["server_frame"]["oneOf"]]
    return client, server


def channel_names(schemas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The channel schema files' names (``channels/chat.json`` → ``chat``), in file order."""
    return [
        posixpath.basename(path).removesuffix(".json")
        for path in schemas
        if path.startswith("channels/")
    ]


def schema_channels(schemas: Mapping[str, Mapping[str, Any]]) -> list[DocumentChannel]:
    """The channels of the protocol, one per file of ``schemas/channels/``; ``conformance``
    is the family ``conformance.*``."""
    return [
        DocumentChannel(
            f"{name}.*" if name == "conformance" else name,
            f"channels/{name}.json",
            schemas[f"channels/{name}.json"],
        )
        for name in channel_names(schemas)
    ]


def _payload_ref(schema_path: str, definition: str) -> dict[str, str]:
    return {"$ref": f"./schemas/{schema_path}#/$defs/{definition}"}


def _camel(*words: str) -> str:
    head, *rest = words
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _examples(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    examples = node.get("examples", ())
    return [{"payload": example} for example in examples if isinstance(example, dict)]


def _frame_message(name: str, node: Mapping[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "title": str(node.get("title", name)),
        "summary": str(node.get("description", "")),
        "contentType": "application/json",
        "payload": _payload_ref(_FRAME, name),
    }
    examples = _examples(node)
    if examples:
        message["examples"] = examples
    return message


def _channel_message(
    channel: DocumentChannel, kind: str, frame_node: Mapping[str, Any]
) -> dict[str, Any]:
    """A ``publish`` or ``event`` frame whose ``data`` is the channel's ``$defs/<kind>``."""
    data_node: Mapping[str, Any] = channel.schema["$defs"][kind]
    channel_rule: dict[str, Any] = (
        {"type": "string", "pattern": "^" + re.escape(channel.key + ".") + _SEGMENTS}
        if channel.is_family
        else {"const": channel.name}
    )
    payload = {
        "allOf": [
            _payload_ref(_FRAME, kind),
            {
                "type": "object",
                "properties": {
                    "channel": channel_rule,
                    "data": _payload_ref(channel.schema_path, kind),
                },
            },
        ]
    }
    name = _camel(channel.key, kind)
    message: dict[str, Any] = {
        "name": name,
        "title": f"{channel.key} {kind}",
        "summary": str(data_node.get("description", "")),
        "contentType": "application/json",
        "payload": payload,
    }
    sample_channel = f"{channel.key}.demo" if channel.is_family else channel.name
    frame_examples = [e for e in frame_node.get("examples", ()) if isinstance(e, dict)]
    examples = []
    for data in data_node.get("examples", ()):
        frame = dict(frame_examples[0]) if frame_examples else {"type": kind}
        frame.update(channel=sample_channel, data=data)
        examples.append({"payload": frame})
    if examples:
        message["examples"] = examples
    return message


def _add_legacy(
    legacy: Mapping[str, Any],
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    """The legacy endpoints (profile ``legacy``): plain JSON frames, no handshake, no seq."""
    defs: Mapping[str, Any] = legacy["$defs"]
    for name, definition in (
        ("legacyClientFrame", "client_frame"),
        ("legacyServerFrame", "server_frame"),
    ):
        node = defs[definition]
        message: dict[str, Any] = {
            "name": name,
            "title": str(node.get("title", name)),
            "summary": str(node.get("description", "")),
            "contentType": "application/json",
            "payload": _payload_ref(_LEGACY, definition),
        }
        examples = _examples(node)
        if examples:
            message["examples"] = examples
        messages[name] = message
    for channel, (address, title, carries) in _LEGACY_ENDPOINTS.items():
        channels[channel] = {
            "address": address,
            "title": title,
            "description": (
                f"Kept for applications written before Canaux: a WebSocket without subprotocol, "
                f"handshake, seq or acks, delivering {carries} events. "
                + str(legacy.get("description", ""))
            ),
            "servers": [{"$ref": "#/servers/websocket"}],
            "messages": {
                name: {"$ref": f"#/components/messages/{name}"}
                for name in ("legacyClientFrame", "legacyServerFrame")
            },
        }
        for action, name in (("receive", "legacyClientFrame"), ("send", "legacyServerFrame")):
            operations[_camel(action, channel)] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "title": f"{action.capitalize()} on {address}",
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
            }


def build_document(
    schemas: Mapping[str, Mapping[str, Any]],
    channels: Sequence[DocumentChannel] | None = None,
    *,
    host: str = "localhost:8001",
    pathname: str = "",
    description: str | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document, as a JSON-ready dict.

    ``schemas`` holds the protocol's schema files by path (``frame.json``, ``legacy.json``…);
    ``channels`` the catalogue to describe (default: the standard channels of ``schemas``).
    ``host`` and ``pathname`` (the mount path, ``/canaux``) locate the server.
    """
    if channels is None:
        channels = schema_channels(schemas)
    frame = schemas[_FRAME]
    defs: Mapping[str, Any] = frame["$defs"]
    client_frames, server_frames = frame_directions(frame)

    # The /ws connection carries the control frames; channel data frames live on the
    # per-channel AsyncAPI channels below.
    control = [name for name in dict.fromkeys(client_frames + server_frames)]
    control = [name for name in control if name not in ("publish", "event")]
    messages: dict[str, Any] = {name: _frame_message(name, defs[name]) for name in control}
    messages["event"] = _frame_message("event", defs["event"])
    ws_messages = {name: {"$ref": f"#/components/messages/{name}"} for name in control}

    described: dict[str, Any] = {
        "connection": {
            "address": "/ws",
            "title": "The Canaux WebSocket connection",
            "description": (
                "One WebSocket per client, subprotocol `canaux.v1`; every frame is one JSON "
                "object in a text frame. It carries the handshake, acknowledgements, errors "
                "and heartbeats; events and publishes of each channel are described on the "
                "channels below, which travel over this same connection."
            ),
            "servers": [{"$ref": "#/servers/websocket"}],
            "messages": ws_messages,
            "bindings": {
                "ws": {
                    "method": "GET",
                    "headers": {
                        "type": "object",
                        "properties": {
                            "Sec-WebSocket-Protocol": {
                                "type": "string",
                                "description": "Must offer `canaux.v1` (TRANSPORT-1).",
                            }
                        },
                        "required": ["Sec-WebSocket-Protocol"],
                    },
                    "bindingVersion": "0.1.0",
                }
            },
        },
        "sseStream": {
            "address": "/events",
            "title": "SSE binding",
            "description": (
                "`GET /events?channels=a,b` streams `text/event-stream`: first `event: welcome` "
                "with the welcome frame, then one SSE message per event (`event:` the channel, "
                "`id:` `<session>:<seq>`, `data:` the event frame). Reconnecting with "
                "`Last-Event-ID` resumes the session."
            ),
            "servers": [{"$ref": "#/servers/sse"}],
            "messages": {
                "welcome": {"$ref": "#/components/messages/welcome"},
                "event": {"$ref": "#/components/messages/event"},
            },
        },
    }
    operations: dict[str, Any] = {}

    def reply(names: tuple[str, ...]) -> dict[str, Any]:
        return {
            "channel": {"$ref": "#/channels/connection"},
            "messages": [{"$ref": f"#/channels/connection/messages/{name}"} for name in names],
        }

    for name in client_frames:
        if name in ("publish",):
            continue
        operation: dict[str, Any] = {
            "action": "receive",
            "channel": {"$ref": "#/channels/connection"},
            "title": f"Receive {name}",
            "summary": str(defs[name].get("description", "")),
            "messages": [{"$ref": f"#/channels/connection/messages/{name}"}],
        }
        if name in _REPLIES:
            operation["reply"] = reply(_REPLIES[name])
        elif name == "ping":
            operation["reply"] = reply(("pong",))
        operations[_camel("receive", name)] = operation
    for name in server_frames:
        if name in ("event",):
            continue
        operations[_camel("send", name)] = {
            "action": "send",
            "channel": {"$ref": "#/channels/connection"},
            "title": f"Send {name}",
            "summary": str(defs[name].get("description", "")),
            "messages": [{"$ref": f"#/channels/connection/messages/{name}"}],
        }
    operations["sendSseStream"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/sseStream"},
        "title": "Stream events over SSE",
        "bindings": {
            "http": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {
                        "channels": {
                            "type": "string",
                            "description": "Comma-separated channel names to subscribe to.",
                        },
                        "last_event_id": {
                            "type": "string",
                            "description": "`<session>:<seq>`, for clients that cannot set "
                            "the `Last-Event-ID` header.",
                        },
                    },
                    "required": ["channels"],
                },
                "bindingVersion": "0.3.0",
            }
        },
        "messages": [
            {"$ref": "#/channels/sseStream/messages/welcome"},
            {"$ref": "#/channels/sseStream/messages/event"},
        ],
    }

    if _LEGACY in schemas:
        _add_legacy(schemas[_LEGACY], described, operations, messages)

    for channel in channels:
        key = channel.key
        if key in described:
            raise ValueError(f"two catalogue entries describe channel {key!r}")
        channel_defs: Mapping[str, Any] = channel.schema.get("$defs", {})
        entry: dict[str, Any] = {
            "address": f"{key}.{{name}}" if channel.is_family else key,
            "title": str(channel.schema.get("title", channel.name)),
            "description": str(channel.schema.get("description", "")),
            "servers": [{"$ref": "#/servers/websocket"}, {"$ref": "#/servers/sse"}],
            "messages": {},
        }
        if channel.is_family:
            entry["parameters"] = {
                "name": {"description": f"The rest of the channel name after `{key}.`."}
            }
        for kind in ("publish", "event"):
            if kind not in channel_defs:
                continue
            message_name = _camel(key, kind)
            messages[message_name] = _channel_message(channel, kind, defs[kind])
            entry["messages"][message_name] = {"$ref": f"#/components/messages/{message_name}"}
            message_ref = {"$ref": f"#/channels/{key}/messages/{message_name}"}
            if kind == "publish":
                operations[_camel("receive", key, "publish")] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{key}"},
                    "title": f"Receive a publish on {channel.name}",
                    "messages": [message_ref],
                    "reply": reply(_PUBLISH_REPLY),
                }
            else:
                operations[_camel("send", key, "event")] = {
                    "action": "send",
                    "channel": {"$ref": f"#/channels/{key}"},
                    "title": f"Send {channel.name} events",
                    "messages": [message_ref],
                }
        described[key] = entry

    servers: dict[str, Any] = {
        "websocket": {
            "host": host,
            "protocol": "ws",
            "title": "Reference server (WebSocket)",
            "description": "`canaux serve` on its default port; the connection lives at `/ws`.",
        },
        "sse": {
            "host": host,
            "protocol": "http",
            "title": "Reference server (SSE binding)",
            "description": "The same server's Server-Sent Events binding at `/events`.",
        },
    }
    if pathname:
        for server in servers.values():
            server["pathname"] = pathname

    return {
        "asyncapi": "3.0.0",
        "id": "urn:dev:canaux:protocol:v1",
        "info": {
            "title": "Canaux",
            "version": f"{PROTOCOL_VERSION}.0.0",
            "description": description
            or (
                "Many named channels over one WebSocket. This document describes a Canaux "
                "server speaking protocol version 1 (subprotocol `canaux.v1`); it is generated "
                "from the JSON Schemas in `schemas/`, whose files it references."
            ),
            "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
            "externalDocs": {"description": "Specification", "url": "https://canaux.dev/spec/"},
        },
        "defaultContentType": "application/json",
        "servers": servers,
        "channels": described,
        "operations": operations,
        "components": {"messages": messages},
    }
