"""The sans-I/O core of Canaux: frames in, frames and events out (spec §1-§12).

Nothing here touches a socket, an event loop or the clock: callers feed received text in,
take text to send out, and pass the current time in. The same core serves the asyncio
server, the tests, and any other I/O layer.

Modules: :mod:`~canaux.protocol.frames` (frame models), :mod:`~canaux.protocol.codes`
(error and close codes), :mod:`~canaux.protocol.limits`, :mod:`~canaux.protocol.channels`
(names, catalogue, payload schemas), :mod:`~canaux.protocol.session` (seq, resume, dedup),
:mod:`~canaux.protocol.server` (one server connection), :mod:`~canaux.protocol.operations`
(subscribe/unsubscribe/publish rules), :mod:`~canaux.protocol.errors`.
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
    FrameError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
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
    accept,
    apply_subscribe,
    apply_unsubscribe,
    check_publish,
    refuse,
)
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

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
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
    "FrameError",
    "FrameRejected",
    "Hello",
    "HelloReceived",
    "Limits",
    "LocalProtocolError",
    "Outcome",
    "PayloadProblem",
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
    "ServerFrame",
    "SessionState",
    "Subscribe",
    "SubscribeRequested",
    "Unsubscribe",
    "UnsubscribeRequested",
    "Welcome",
    "accept",
    "apply_subscribe",
    "apply_unsubscribe",
    "check_publish",
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
