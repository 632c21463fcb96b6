"""The rules of subscribe, unsubscribe and publish, applied to a session (spec §4, §5).

The server layer calls these pure functions for each request event of a
:class:`~canaux.protocol.server.ServerConnection`; each returns an :class:`Outcome`: the
reply text to send (already remembered for dedup [OPS-9]) and what the server must do
(register the subscription with its hub, deliver the publish). No protocol rule is left to
the I/O layer.

For a publish the server decides last (the playqueue may refuse a command, the broker may
fail): it sends :attr:`Outcome.reply` only after delivering, or replaces it with
:func:`refuse`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue, is_valid_channel_name
from canaux.protocol.codes import ErrorCode
from canaux.protocol.session import SessionState

__all__ = [
    "Effect",
    "Outcome",
    "Permitted",
    "accept",
    "apply_subscribe",
    "apply_unsubscribe",
    "check_publish",
    "refuse",
]


class Effect(enum.Enum):
    """What the server must do for a request before sending its reply."""

    NONE = enum.auto()
    """Nothing: the reply is an error, or a replay of an earlier reply [OPS-9]."""
    SUBSCRIBE = enum.auto()
    """Add the session to the channel's subscribers, then send the ack [OPS-6]."""
    UNSUBSCRIBE = enum.auto()
    """Remove the session from the channel's subscribers, then send the ack [OPS-6]."""
    PUBLISH = enum.auto()
    """Deliver the publish (fixing its place in the channel order), then send the ack [OPS-7]."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision on one request."""

    frame_id: str
    reply: str
    """Encoded ``ack`` or ``error`` answering the request."""
    effect: Effect
    error: ErrorCode | None = None
    """The error code of the reply, ``None`` for an ack."""
    replayed: bool = False
    """The request id was answered before in this session; this is the same reply [OPS-9]."""

    @property
    def ok(self) -> bool:
        return self.error is None


Permitted = Callable[[str], bool]
"""The server's access policy for one session and one kind of request: may it subscribe to
(or publish on) this channel [CHANNEL-13]. Called only for a channel in the catalogue."""


def accept(session: SessionState, frame_id: str) -> str:
    """The ``ack`` of request ``frame_id``, remembered for dedup [OPS-1, OPS-9]."""
    text = frames.encode(frames.Ack(id=frame_id))
    session.remember_reply(frame_id, text)
    return text


def refuse(
    session: SessionState,
    frame_id: str,
    code: ErrorCode,
    message: str,
    *,
    channel: str | None = None,
    pointer: str | None = None,
) -> str:
    """An ``error`` answering request ``frame_id``, remembered for dedup [OPS-1, OPS-9].

    ``internal_error`` is the exception: the frame took no effect, so its id is not recorded as
    answered (and any reply recorded for it before the failure is dropped) [OPS-17].
    """
    text = frames.error_text(code, message, id=frame_id, channel=channel, pointer=pointer)
    if code is ErrorCode.INTERNAL_ERROR:
        session.forget_reply(frame_id)
    else:
        session.remember_reply(frame_id, text)
    return text


def _refused(
    session: SessionState,
    frame_id: str,
    code: ErrorCode,
    message: str,
    *,
    channel: str | None = None,
    pointer: str | None = None,
) -> Outcome:
    text = refuse(session, frame_id, code, message, channel=channel, pointer=pointer)
    return Outcome(frame_id, text, Effect.NONE, error=code)


def _replayed(frame_id: str, text: str) -> Outcome:
    # The reply is replayed as it was; parsing the stored error back tells its code.
    reply = frames.parse_server_frame(frames.decode_json(text))
    code = reply.code if isinstance(reply, frames.Error) else None
    return Outcome(frame_id, text, Effect.NONE, error=code, replayed=True)


def _known(catalogue: Catalogue, channel: str) -> bool:
    # The frame schema admits "name\n" (its pattern is searched with Python's re); the
    # stricter grammar check makes such a name an unknown channel [CHANNEL-1].
    return is_valid_channel_name(channel) and catalogue.lookup(channel) is not None


def apply_subscribe(
    session: SessionState,
    catalogue: Catalogue,
    frame: frames.Subscribe,
    *,
    permitted: Permitted | None = None,
) -> Outcome:
    """Decide a ``subscribe``; on success the session is subscribed already."""
    earlier = session.reply_for(frame.id)
    if earlier is not None:
        # [OPS-9] "NOT applied again; the server answers again with the same reply".
        return _replayed(frame.id, earlier)
    if not _known(catalogue, frame.channel):
        # [CHANNEL-3] unknown channel → error, connection stays open.
        return _refused(
            session,
            frame.id,
            ErrorCode.UNKNOWN_CHANNEL,
            f"no channel {frame.channel} in the catalogue",
            channel=frame.channel,
            pointer="/channel",
        )
    if permitted is not None and not permitted(frame.channel):
        # [CHANNEL-13] the access policy denies this identity the channel.
        return _refused(
            session,
            frame.id,
            ErrorCode.FORBIDDEN,
            f"not allowed to subscribe to {frame.channel}",
            channel=frame.channel,
        )
    if frame.channel in session.subscriptions:
        # [OPS-3] already subscribed → error, subscription unchanged.
        return _refused(
            session,
            frame.id,
            ErrorCode.ALREADY_SUBSCRIBED,
            f"already subscribed to {frame.channel}",
            channel=frame.channel,
        )
    limit = session.limits.max_subscriptions
    if len(session.subscriptions) >= limit:
        # [OPS-5] beyond limits.max_subscriptions → too_many_subscriptions.
        return _refused(
            session,
            frame.id,
            ErrorCode.TOO_MANY_SUBSCRIPTIONS,
            f"at most {limit} subscriptions",
            channel=frame.channel,
        )
    session.subscriptions[frame.channel] = None
    return Outcome(frame.id, accept(session, frame.id), Effect.SUBSCRIBE)


def apply_unsubscribe(session: SessionState, frame: frames.Unsubscribe) -> Outcome:
    """Decide an ``unsubscribe``; on success the session is unsubscribed already."""
    earlier = session.reply_for(frame.id)
    if earlier is not None:
        return _replayed(frame.id, earlier)  # [OPS-9]
    if frame.channel not in session.subscriptions:
        # [OPS-4] not subscribed → error (an unknown channel is never subscribed).
        return _refused(
            session,
            frame.id,
            ErrorCode.NOT_SUBSCRIBED,
            f"not subscribed to {frame.channel}",
            channel=frame.channel,
        )
    del session.subscriptions[frame.channel]
    return Outcome(frame.id, accept(session, frame.id), Effect.UNSUBSCRIBE)


def check_publish(
    session: SessionState,
    catalogue: Catalogue,
    frame: frames.Publish,
    *,
    permitted: Permitted | None = None,
) -> Outcome:
    """Decide whether a ``publish`` may be delivered.

    On :attr:`Effect.PUBLISH` the reply is the ack (already remembered); the server delivers,
    then sends it, or replaces it with :func:`refuse` when its channel handler refuses.
    """
    earlier = session.reply_for(frame.id)
    if earlier is not None:
        # [OPS-9] a publish re-sent after resume with the same id takes effect once.
        return _replayed(frame.id, earlier)
    entry = catalogue.lookup(frame.channel) if _known(catalogue, frame.channel) else None
    if entry is None:
        # [CHANNEL-3]
        return _refused(
            session,
            frame.id,
            ErrorCode.UNKNOWN_CHANNEL,
            f"no channel {frame.channel} in the catalogue",
            channel=frame.channel,
            pointer="/channel",
        )
    if entry.publish != "client":
        # [CHANNEL-4] publish on a "server" channel → forbidden; nothing delivered.
        return _refused(
            session,
            frame.id,
            ErrorCode.FORBIDDEN,
            f"only the server publishes on {frame.channel}",
            channel=frame.channel,
        )
    if permitted is not None and not permitted(frame.channel):
        # [CHANNEL-13] refused by the access policy, before the schema [CHANNEL-14].
        return _refused(
            session,
            frame.id,
            ErrorCode.FORBIDDEN,
            f"not allowed to publish on {frame.channel}",
            channel=frame.channel,
        )
    problem = catalogue.validate_publish(frame.channel, frame.data)
    if problem is not None:
        # [CHANNEL-5] invalid_payload with a pointer into the frame; nothing delivered.
        return _refused(
            session,
            frame.id,
            ErrorCode.INVALID_PAYLOAD,
            f"{problem.pointer.lstrip('/')}: {problem.message}",
            channel=frame.channel,
            pointer=problem.pointer,
        )
    return Outcome(frame.id, accept(session, frame.id), Effect.PUBLISH)
