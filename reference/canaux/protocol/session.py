"""Per-session state: seq numbering, resume buffer, dedup memory
(spec operations.md to resume.md, security.md).

A :class:`SessionState` outlives the connections that carry it: the server keeps it while
detached for ``resume_window_ms`` and hands it to the next connection that resumes it.
Everything here is plain bookkeeping; the time is passed in.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from canaux.protocol.frames import dumps, event_frame, text_bytes
from canaux.protocol.limits import Limits

__all__ = ["SESSION_ID_BYTES", "SessionState", "new_session_id"]

SESSION_ID_BYTES = 18
"""Random bytes in a session id: 144 bits, 24 base64url characters [HANDSHAKE-8]."""


def new_session_id() -> str:
    """A fresh session id from the operating system's CSPRNG [HANDSHAKE-8, SECURITY-1]."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def _same_identity(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    # Tokens are credentials: compare in constant time.
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


class SessionState:
    """One session: identity, subscriptions, event numbering and the memory resume needs.

    ``identity`` is the authenticated principal, or on a server without authentication the
    exact ``hello.token`` (``None`` when absent) [SECURITY-2].
    """

    def __init__(
        self,
        identity: str | None,
        limits: Limits,
        *,
        session_id: str | None = None,
    ) -> None:
        self.id = session_id if session_id is not None else new_session_id()
        self.identity = identity
        self.limits = limits
        self.seq = 0
        """The last seq assigned; the next event gets ``seq + 1`` [DELIVERY-1]."""
        self.subscriptions: dict[str, None] = {}
        """Subscribed channels, in subscription order (a dict used as an ordered set)."""
        # The buffer also holds events sent while attached: the client may not have received
        # them when the connection drops (spec resume.md).
        # seq -> frame text, for the last ``resume_buffer`` seqs (always consecutive). A dict of
        # ints and strs is never tracked by the garbage collector, where a deque is, and a
        # full collection visits every item of it: with thousands of events buffered per
        # session that walk alone stalled the event loop for tens of milliseconds.
        self._buffer: dict[int, str] = {}
        self._buffer_bytes = 0
        """UTF-8 bytes of the frames in ``_buffer`` [LIMIT-11]."""
        # frame id -> reply, oldest first: a plain dict (ordered) of strs, which the garbage
        # collector does not track, and half an OrderedDict's size on an idle session.
        self._replies: dict[str, str] = {}
        self.attached = False
        self.detached_at: float | None = None
        self.discarded = False

    def __repr__(self) -> str:
        return f"<SessionState {self.short_id} seq={self.seq} attached={self.attached}>"

    @property
    def short_id(self) -> str:
        """A prefix of the id for logs: ids are never logged in full [SECURITY-9]."""
        return self.id[:6] + "…"

    # Events -------------------------------------------------------------------------------

    def next_event(self, channel: str, data: Any) -> tuple[int, str]:
        """Number the next event of this session, encode it once and keep it for replay."""
        return self.next_event_json(channel, dumps(data))

    def next_event_json(self, channel: str, data_json: str) -> tuple[int, str]:
        """Same as :meth:`next_event` with ``data`` already encoded (fan-out encodes it once)."""
        # [DELIVERY-1] first event 1, then exactly previous + 1, across resumed connections.
        seq = self.seq = self.seq + 1
        # Built once per event but for the seq, with its exact UTF-8 length [LIMIT-11].
        text, size = event_frame(seq, channel, data_json)
        buffer = self._buffer
        buffer[seq] = text
        self._buffer_bytes += size
        limits = self.limits
        if len(buffer) > limits.resume_buffer or self._buffer_bytes > limits.resume_buffer_bytes:
            self._trim()
        return seq, text

    def _trim(self) -> None:
        # [LIMIT-5, LIMIT-11] the newest events that fit both bounds, always the newest one;
        # what goes is the oldest, so the buffer stays a run of consecutive seqs.
        buffer, limits = self._buffer, self.limits
        while len(buffer) > limits.resume_buffer or (
            self._buffer_bytes > limits.resume_buffer_bytes and len(buffer) > 1
        ):
            oldest = self.seq - len(buffer) + 1
            self._buffer_bytes -= text_bytes(buffer.pop(oldest))

    @property
    def buffered_bytes(self) -> int:
        """UTF-8 bytes of the events kept for replay [LIMIT-11]."""
        return self._buffer_bytes

    @property
    def oldest_buffered(self) -> int | None:
        """The seq of the oldest event still in the resume buffer."""
        return self.seq - len(self._buffer) + 1 if self._buffer else None

    def replay_after(self, seq: int) -> list[str] | None:
        """Encoded events with seq > ``seq``, in order; ``None`` if any of them is gone.

        [RESUME-2] "never a partial replay": either every missing event is still buffered,
        or there is nothing to replay at all.
        """
        if seq < 0 or seq > self.seq:
            return None
        if seq == self.seq:
            return []
        oldest = self.oldest_buffered
        if oldest is None or oldest > seq + 1:
            return None
        buffer = self._buffer
        return [buffer[n] for n in range(seq + 1, self.seq + 1)]

    # Attachment and resume ----------------------------------------------------------------

    def attach(self, now: float) -> None:
        """A connection now carries this session."""
        del now  # kept for symmetry with detach(); attachment has no deadline
        self.attached = True
        self.detached_at = None

    def detach(self, now: float) -> None:
        """The connection carrying this session is gone; the resume window starts."""
        self.attached = False
        self.detached_at = now

    def expires_at(self) -> float | None:
        """When a detached session is discarded [RESUME-7]; ``None`` while attached."""
        if self.detached_at is None:
            return None
        return self.detached_at + self.limits.resume_window_ms / 1000.0

    def expired(self, now: float) -> bool:
        """Whether the resume window of a detached session is over [RESUME-7]."""
        if self.discarded:
            return True
        deadline = self.expires_at()
        return deadline is not None and now >= deadline

    def discard(self) -> None:
        """Forget this session: it will never be resumed again [RESUME-7]."""
        self.discarded = True
        self._buffer.clear()
        self._buffer_bytes = 0
        self._replies.clear()

    def may_resume(self, identity: str | None, seq: int, now: float, limits: Limits) -> bool:
        """Whether ``hello.resume = {session: self.id, seq}`` from ``identity`` resumes [RESUME-2].

        True iff the window has not expired [RESUME-7], the identity matches [SECURITY-2],
        ``seq`` is not beyond the last seq assigned, and the buffer still holds every event
        after ``seq`` [LIMIT-5]. ``limits`` is the table in force now (a server may have been
        reconfigured since the session started; the shorter window wins).
        """
        if self.discarded or not _same_identity(self.identity, identity):
            return False
        if self.detached_at is not None:
            window = min(limits.resume_window_ms, self.limits.resume_window_ms) / 1000.0
            if now >= self.detached_at + window:
                return False
        return self.replay_after(seq) is not None

    # Sharing (spec "Clusters") ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything another process needs to carry this session on, as JSON values:
        identity, seq, subscriptions, the resume buffer and the remembered replies [OPS-9]."""
        return {
            "id": self.id,
            "identity": self.identity,
            "seq": self.seq,
            "subscriptions": list(self.subscriptions),
            "buffer": [[seq, text] for seq, text in self._buffer.items()],
            "replies": [[frame_id, text] for frame_id, text in self._replies.items()],
        }

    @classmethod
    def restore(cls, snapshot: dict[str, Any], limits: Limits) -> SessionState:
        """The session :meth:`snapshot` described, under this process's ``limits`` (the
        buffer and the replies keep their newest entries that fit them)."""
        state = cls(snapshot["identity"], limits, session_id=str(snapshot["id"]))
        state.subscriptions = dict.fromkeys(str(name) for name in snapshot["subscriptions"])
        buffer = [(int(seq), str(text)) for seq, text in snapshot["buffer"]]
        state.seq = int(snapshot["seq"])
        state._buffer = dict(buffer[-limits.resume_buffer :])
        state._buffer_bytes = sum(text_bytes(text) for text in state._buffer.values())
        state._trim()  # [LIMIT-11] this process's byte bound too
        for frame_id, text in snapshot["replies"]:
            state.remember_reply(str(frame_id), str(text))
        return state

    # Idempotency --------------------------------------------------------------------------

    def remember_reply(self, frame_id: str, text: str) -> None:
        """Keep the reply sent to client frame ``frame_id`` [OPS-9]."""
        replies = self._replies
        replies.pop(frame_id, None)  # the newest goes last
        replies[frame_id] = text
        # [OPS-9] bounded memory: the oldest ids go first; Limits guarantees the bound is at
        # least the resume buffer.
        while len(replies) > self.limits.dedup_ids:
            del replies[next(iter(replies))]

    def forget_reply(self, frame_id: str) -> None:
        """Drop any reply kept for ``frame_id``: the frame may be sent again [OPS-17]."""
        self._replies.pop(frame_id, None)

    def reply_for(self, frame_id: str) -> str | None:
        """The reply already sent to client frame ``frame_id``, if it is remembered [OPS-9]."""
        return self._replies.get(frame_id)
