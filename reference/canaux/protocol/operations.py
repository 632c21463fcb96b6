"""The rules of subscribe, unsubscribe and publish, decided for a session
(spec channels.md, operations.md).

Decide, then commit. ``decide_*`` are pure: they read the session and return an
:class:`Outcome` (the reply, and the effect the server must perform first: register the
subscription with its hub, deliver the publish) and change nothing. Once the effect happened,
:func:`commit` records it in the session and remembers the reply for dedup [OPS-9]; if the
effect failed, :func:`refuse` answers instead, and nothing needs rolling back. Front doors go
through :class:`~canaux.protocol.sessions.ServerSessions`, which owns the sessions.

For a publish the server decides last (a channel may refuse a command, the broker may fail):
it commits the ack only after delivering, or answers with :func:`refuse`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

from canaux.protocol import frames
from canaux.protocol.channels import Catalogue, is_valid_channel_name
from canaux.protocol.codes import ErrorCode
from canaux.protocol.limits import Limits
from canaux.protocol.session import SessionState

__all__ = [
    "Effect",
    "Outcome",
    "Permitted",
    "StreamRefusal",
    "check_stream_channels",
    "commit",
    "decide_publish",
    "decide_subscribe",
    "decide_unsubscribe",
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
    effect: Effect = Effect.NONE
    error: ErrorCode | None = None
    """The error code of the reply, ``None`` for an ack."""
    replayed: bool = False
    """The request id was answered before in this session; this is the same reply [OPS-9]."""
    channel: str | None = None
    """The channel a subscribe or unsubscribe changes, once committed."""
    committed: bool = False
    """Recorded in the session (effect and reply memory [OPS-9]): only then may it be sent."""

    @property
    def ok(self) -> bool:
        return self.error is None


Permitted = Callable[[str], bool]
"""The server's access policy for one session and one kind of request: may it subscribe to
(or publish on) this channel [CHANNEL-13]. Called only for a channel in the catalogue."""


@dataclass(frozen=True, slots=True)
class StreamRefusal:
    """Why the channels of a new SSE stream are refused [SSE-3]: a subscribe's error."""

    code: ErrorCode
    message: str
    channel: str | None = None
    pointer: str | None = None


def _remember(session: SessionState, frame_id: str, text: str, code: ErrorCode | None) -> None:
    if code is ErrorCode.INTERNAL_ERROR:
        # [OPS-17] the frame took no effect: its id is not recorded as answered (and any
        # reply recorded for it before the failure is dropped), so a retry is applied.
        session.forget_reply(frame_id)
    else:
        session.remember_reply(frame_id, text)  # [OPS-9]


def commit(session: SessionState, outcome: Outcome) -> Outcome:
    """Record ``outcome`` once its effect happened: the subscription, and the reply [OPS-9].

    A replayed reply changes nothing [OPS-9]. Returns the outcome marked committed: the one
    to send.
    """
    if outcome.committed:
        return outcome
    if not outcome.replayed:
        if outcome.effect is Effect.SUBSCRIBE and outcome.channel is not None:
            session.subscriptions[outcome.channel] = None
        elif outcome.effect is Effect.UNSUBSCRIBE and outcome.channel is not None:
            session.subscriptions.pop(outcome.channel, None)
        _remember(session, outcome.frame_id, outcome.reply, outcome.error)
    return dataclasses.replace(outcome, committed=True)


def refuse(
    session: SessionState,
    frame_id: str,
    code: ErrorCode,
    message: str,
    *,
    channel: str | None = None,
    pointer: str | None = None,
) -> str:
    """An ``error`` answering request ``frame_id`` after its decision, remembered for dedup
    [OPS-1, OPS-9], except ``internal_error`` [OPS-17]."""
    text = frames.error_text(code, message, id=frame_id, channel=channel, pointer=pointer)
    _remember(session, frame_id, text, code)
    return text


def _refused(
    frame_id: str,
    code: ErrorCode,
    message: str,
    *,
    channel: str | None = None,
    pointer: str | None = None,
) -> Outcome:
    text = frames.error_text(code, message, id=frame_id, channel=channel, pointer=pointer)
    return Outcome(frame_id, text, error=code)


def _accepted(frame_id: str, effect: Effect, channel: str | None = None) -> Outcome:
    return Outcome(frame_id, frames.encode(frames.Ack(id=frame_id)), effect, channel=channel)


def _replayed(frame_id: str, text: str) -> Outcome:
    # The reply is replayed as it was; parsing the stored error back tells its code.
    reply = frames.parse_server_frame(frames.decode_json(text))
    code = reply.code if isinstance(reply, frames.Error) else None
    return Outcome(frame_id, text, error=code, replayed=True)


def _known(catalogue: Catalogue, channel: str) -> bool:
    # The frame schema admits "name\n" (its pattern is searched with Python's re); the
    # stricter grammar check makes such a name an unknown channel [CHANNEL-1].
    return is_valid_channel_name(channel) and catalogue.lookup(channel) is not None


def _unknown(frame_id: str, channel: str) -> Outcome:
    # [CHANNEL-3] unknown channel → error, connection stays open.
    return _refused(
        frame_id,
        ErrorCode.UNKNOWN_CHANNEL,
        f"no channel {channel} in the catalogue",
        channel=channel,
        pointer="/channel",
    )


def _too_many(frame_id: str, channel: str, limit: int) -> Outcome:
    # [OPS-5] beyond limits.max_subscriptions → too_many_subscriptions.
    return _refused(
        frame_id,
        ErrorCode.TOO_MANY_SUBSCRIPTIONS,
        f"at most {limit} subscriptions",
        channel=channel,
    )


def decide_subscribe(
    session: SessionState,
    catalogue: Catalogue,
    frame: frames.Subscribe,
    *,
    permitted: Permitted | None = None,
) -> Outcome:
    """Decide a ``subscribe``; nothing changes until :func:`commit`."""
    earlier = session.reply_for(frame.id)
    if earlier is not None:
        # [OPS-9] "NOT applied again; the server answers again with the same reply".
        return _replayed(frame.id, earlier)
    if not _known(catalogue, frame.channel):
        return _unknown(frame.id, frame.channel)  # [CHANNEL-3]
    if permitted is not None and not permitted(frame.channel):
        # [CHANNEL-13] the access policy denies this identity the channel.
        return _refused(
            frame.id,
            ErrorCode.FORBIDDEN,
            f"not allowed to subscribe to {frame.channel}",
            channel=frame.channel,
        )
    if frame.channel in session.subscriptions:
        # [OPS-3] already subscribed → error, subscription unchanged.
        return _refused(
            frame.id,
            ErrorCode.ALREADY_SUBSCRIBED,
            f"already subscribed to {frame.channel}",
            channel=frame.channel,
        )
    limit = session.limits.max_subscriptions
    if len(session.subscriptions) >= limit:
        return _too_many(frame.id, frame.channel, limit)  # [OPS-5]
    return _accepted(frame.id, Effect.SUBSCRIBE, frame.channel)


def decide_unsubscribe(session: SessionState, frame: frames.Unsubscribe) -> Outcome:
    """Decide an ``unsubscribe``; nothing changes until :func:`commit`."""
    earlier = session.reply_for(frame.id)
    if earlier is not None:
        return _replayed(frame.id, earlier)  # [OPS-9]
    if frame.channel not in session.subscriptions:
        # [OPS-4] not subscribed → error (an unknown channel is never subscribed).
        return _refused(
            frame.id,
            ErrorCode.NOT_SUBSCRIBED,
            f"not subscribed to {frame.channel}",
            channel=frame.channel,
        )
    return _accepted(frame.id, Effect.UNSUBSCRIBE, frame.channel)


def decide_publish(
    session: SessionState,
    catalogue: Catalogue,
    frame: frames.Publish,
    *,
    permitted: Permitted | None = None,
) -> Outcome:
    """Decide whether a ``publish`` may be delivered; nothing changes until :func:`commit`.

    On :attr:`Effect.PUBLISH` the server delivers, then commits the ack, or answers with
    :func:`refuse` when its channel refuses.
    """
    earlier = session.reply_for(frame.id)
    if earlier is not None:
        # [OPS-9] a publish re-sent after resume with the same id takes effect once.
        return _replayed(frame.id, earlier)
    entry = catalogue.lookup(frame.channel) if _known(catalogue, frame.channel) else None
    if entry is None:
        return _unknown(frame.id, frame.channel)  # [CHANNEL-3]
    if entry.publish != "client":
        # [CHANNEL-4] publish on a "server" channel → forbidden; nothing delivered.
        return _refused(
            frame.id,
            ErrorCode.FORBIDDEN,
            f"only the server publishes on {frame.channel}",
            channel=frame.channel,
        )
    if permitted is not None and not permitted(frame.channel):
        # [CHANNEL-13] refused by the access policy, before the schema [CHANNEL-14].
        return _refused(
            frame.id,
            ErrorCode.FORBIDDEN,
            f"not allowed to publish on {frame.channel}",
            channel=frame.channel,
        )
    problem = catalogue.validate_publish(frame.channel, frame.data)
    if problem is not None:
        # [CHANNEL-5] invalid_payload with a pointer into the frame; nothing delivered.
        return _refused(
            frame.id,
            ErrorCode.INVALID_PAYLOAD,
            f"{problem.pointer.lstrip('/')}: {problem.message}",
            channel=frame.channel,
            pointer=problem.pointer,
        )
    return _accepted(frame.id, Effect.PUBLISH)


def check_stream_channels(
    catalogue: Catalogue, limits: Limits, names: list[str]
) -> StreamRefusal | None:
    """Whether a new SSE stream may subscribe to ``names`` (distinct, in order) [SSE-3].

    The rules of a ``subscribe`` frame, per name in order: a name outside the grammar is a
    malformed request (``bad_frame``), an unknown one ``unknown_channel`` [CHANNEL-3]; then
    more names than ``max_subscriptions`` is ``too_many_subscriptions`` [OPS-5].
    """
    if not names:
        return StreamRefusal(ErrorCode.BAD_FRAME, "channels: required", pointer="/channels")
    for name in names:
        if not is_valid_channel_name(name):
            return StreamRefusal(
                ErrorCode.BAD_FRAME, f"{name!r} is not a channel name", pointer="/channels"
            )
        if catalogue.lookup(name) is None:
            return StreamRefusal(ErrorCode.UNKNOWN_CHANNEL, f"no channel named {name}", name)
    if len(names) > limits.max_subscriptions:
        return StreamRefusal(
            ErrorCode.TOO_MANY_SUBSCRIPTIONS, f"at most {limits.max_subscriptions} channels"
        )
    return None
