"""The sans-I/O core of Canaux: frames in, frames and events out
(spec transport.md to standard-channels.md, security.md, error-codes.md, close-codes.md).

Nothing here touches a socket, an event loop or the clock: callers feed received text in,
take text to send out, and pass the current time in. The same core serves the asyncio
server, the tests, and any other I/O layer.

Modules: :mod:`~canaux.protocol.frames` (frame models), :mod:`~canaux.protocol.codes`
(error and close codes), :mod:`~canaux.protocol.limits`, :mod:`~canaux.protocol.channels`
(names, catalogue, payload schemas), :mod:`~canaux.protocol.session` (seq, resume, dedup),
:mod:`~canaux.protocol.server` (one server connection), :mod:`~canaux.protocol.sessions`
(every session of a server: the one owner of their lifecycle),
:mod:`~canaux.protocol.operations` (subscribe/unsubscribe/publish rules: decide, then commit),
:mod:`~canaux.protocol.outbound` (the one outbound queue type of every connection),
:mod:`~canaux.protocol.errors` (every exception, under one root).
"""

from canaux.protocol.channels import (
    Catalogue,
    ChannelSpec,
    PayloadProblem,
    is_reserved,
    is_valid_channel_name,
)
from canaux.protocol.codes import ChatErrorCode, CloseCode, ErrorCode, should_reconnect
from canaux.protocol.errors import (
    CanauxError,
    FrameError,
    FrameTooLarge,
    LocalProtocolError,
    OutboxFull,
    ProtocolError,
    RemoteProtocolError,
    ServerError,
)
from canaux.protocol.frames import (
    PROTOCOL_VERSION,
    Ack,
    CatalogueEntry,
    ClientFrame,
    Error,
    Event,
    Hello,
    Ping,
    Pong,
    Publish,
    ResumeRequest,
    ServerFrame,
    Subscribe,
    Unsubscribe,
    Welcome,
    decode_json,
    encode,
    parse_client_frame,
    parse_server_frame,
)
from canaux.protocol.limits import Limits
from canaux.protocol.operations import (
    Effect,
    Outcome,
    Permitted,
    StreamRefusal,
    check_stream_channels,
    commit,
    decide_publish,
    decide_subscribe,
    decide_unsubscribe,
    refuse,
)
from canaux.protocol.outbound import OutboundQueue
from canaux.protocol.server import (
    ConnEvent,
    FrameRejected,
    HelloReceived,
    PingReceived,
    PongReceived,
    PublishRequested,
    ServerConnection,
    SubscribeRequested,
    UnsubscribeRequested,
)
from canaux.protocol.session import SessionState, new_session_id
from canaux.protocol.sessions import (
    Cancellable,
    EventSink,
    Opened,
    ServerSession,
    ServerSessions,
    Transport,
)

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "CanauxError",
    "Cancellable",
    "Catalogue",
    "CatalogueEntry",
    "ChannelSpec",
    "ChatErrorCode",
    "ClientFrame",
    "CloseCode",
    "ConnEvent",
    "Effect",
    "Error",
    "ErrorCode",
    "Event",
    "EventSink",
    "FrameError",
    "FrameRejected",
    "FrameTooLarge",
    "Hello",
    "HelloReceived",
    "Limits",
    "LocalProtocolError",
    "Opened",
    "OutboundQueue",
    "OutboxFull",
    "Outcome",
    "PayloadProblem",
    "Permitted",
    "Ping",
    "PingReceived",
    "Pong",
    "PongReceived",
    "ProtocolError",
    "Publish",
    "PublishRequested",
    "RemoteProtocolError",
    "ResumeRequest",
    "ServerConnection",
    "ServerError",
    "ServerFrame",
    "ServerSession",
    "ServerSessions",
    "SessionState",
    "StreamRefusal",
    "Subscribe",
    "SubscribeRequested",
    "Transport",
    "Unsubscribe",
    "UnsubscribeRequested",
    "Welcome",
    "check_stream_channels",
    "commit",
    "decide_publish",
    "decide_subscribe",
    "decide_unsubscribe",
    "decode_json",
    "encode",
    "is_reserved",
    "is_valid_channel_name",
    "new_session_id",
    "parse_client_frame",
    "parse_server_frame",
    "refuse",
    "should_reconnect",
]
