"""The AsyncAPI 3.0 description of the Canaux protocol, generated from schemas/.

The document describes a Canaux *server*: it receives client frames on the ``/ws``
connection and sends server frames; each standard channel is an AsyncAPI channel whose
messages are the ``publish`` and ``event`` frames carrying that channel's data. Every
payload is a ``$ref`` into the files of ``schemas/`` (published beside the document), and
the set of frames and channels is read from those files, so the document cannot drift.
It is validated by the official ``@asyncapi/parser`` (``docs/asyncapi/validate.mjs``).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

__all__ = [
    "PROTOCOL_VERSION",
    "build_document",
    "channel_names",
    "frame_directions",
    "render_page",
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
_FAMILY_PATTERN = r"^conformance\.[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"


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
    channel: str, kind: str, channel_schema: Mapping[str, Any], frame_node: Mapping[str, Any]
) -> dict[str, Any]:
    """A ``publish`` or ``event`` frame whose ``data`` is the channel's ``$defs/<kind>``."""
    data_node: Mapping[str, Any] = channel_schema["$defs"][kind]
    family = channel == "conformance"
    channel_rule: dict[str, Any] = (
        {"type": "string", "pattern": _FAMILY_PATTERN} if family else {"const": channel}
    )
    payload = {
        "allOf": [
            _payload_ref(_FRAME, kind),
            {
                "type": "object",
                "properties": {
                    "channel": channel_rule,
                    "data": _payload_ref(f"channels/{channel}.json", kind),
                },
            },
        ]
    }
    name = _camel(channel, kind)
    message: dict[str, Any] = {
        "name": name,
        "title": f"{channel} {kind}",
        "summary": str(data_node.get("description", "")),
        "contentType": "application/json",
        "payload": payload,
    }
    sample_channel = "conformance.demo" if family else channel
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


def build_document(schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document, as a JSON-ready dict, from the schema files."""
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

    channels: dict[str, Any] = {
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
        _add_legacy(schemas[_LEGACY], channels, operations, messages)

    for channel in channel_names(schemas):
        channel_schema = schemas[f"channels/{channel}.json"]
        channel_defs: Mapping[str, Any] = channel_schema.get("$defs", {})
        family = channel == "conformance"
        entry: dict[str, Any] = {
            "address": "conformance.{name}" if family else channel,
            "title": str(channel_schema.get("title", channel)),
            "description": str(channel_schema.get("description", "")),
            "servers": [{"$ref": "#/servers/websocket"}, {"$ref": "#/servers/sse"}],
            "messages": {},
        }
        if family:
            entry["parameters"] = {
                "name": {"description": "The rest of the channel name after `conformance.`."}
            }
        for kind in ("publish", "event"):
            if kind not in channel_defs:
                continue
            message_name = _camel(channel, kind)
            messages[message_name] = _channel_message(channel, kind, channel_schema, defs[kind])
            entry["messages"][message_name] = {"$ref": f"#/components/messages/{message_name}"}
            message_ref = {"$ref": f"#/channels/{channel}/messages/{message_name}"}
            if kind == "publish":
                operations[_camel("receive", channel, "publish")] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "title": f"Receive a publish on {channel}",
                    "messages": [message_ref],
                    "reply": reply(_PUBLISH_REPLY),
                }
            else:
                operations[_camel("send", channel, "event")] = {
                    "action": "send",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "title": f"Send {channel} events",
                    "messages": [message_ref],
                }
        channels[channel] = entry

    return {
        "asyncapi": "3.0.0",
        "id": "urn:dev:canaux:protocol:v1",
        "info": {
            "title": "Canaux",
            "version": f"{PROTOCOL_VERSION}.0.0",
            "description": (
                "Many named channels over one WebSocket. This document describes a Canaux "
                "server speaking protocol version 1 (subprotocol `canaux.v1`); it is generated "
                "from the JSON Schemas in `schemas/`, whose files it references."
            ),
            "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
            "externalDocs": {"description": "Specification", "url": "https://canaux.dev/spec/"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "websocket": {
                "host": "localhost:8001",
                "protocol": "ws",
                "title": "Reference server (WebSocket)",
                "description": "`canaux serve` on its default port; the connection lives at `/ws`.",
            },
            "sse": {
                "host": "localhost:8001",
                "protocol": "http",
                "title": "Reference server (SSE binding)",
                "description": "The same server's Server-Sent Events binding at `/events`.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


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
