"""The deliberately broken servers: one small fault each, and what must catch it (index.md).

Every :class:`BrokenServer` names the cases to run against it and the requirement IDs a
failure may cite; the proof of power asserts that at least one of those cases FAILS citing
one of those IDs, and that the transparent relay (no fault) passes every one of them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from canaux_conformance.ijson import is_i_json

from .frame_proxy import Conn, Fault, Frame
from .gap_faults import GAP_SERVERS
from .handshake_faults import HANDSHAKE_SERVERS
from .power_faults import (
    AcceptsUpdateAfterTerminal,
    LegacyPingAlsoRefused,
    PlayStartsAtTheSecond,
    ReceiveOnlyStillChats,
    RemembersByLastUse,
    RemoveLeavesCurrent,
    SessionIdOneLonger,
    SessionIdOneShorter,
    SlowPathDepthCountedTwice,
    SlowPathSafeIntegerOffByOne,
    SseSkipsTheSnapshot,
    UnexpectedMemberPointsAtFirst,
    UnsubscribeCutsEveryone,
)
from .slow_faults import SLOW_SERVERS

__all__ = ["BROKEN_SERVERS", "REFERENCE_ONLY", "BrokenServer", "all_cases"]


def _conformance(frame: Frame) -> bool:
    return frame.get("type") == "event" and str(frame.get("channel", "")).startswith("conformance.")


class MisroutesChannel(Fault):
    name = "misroutes-channel"
    description = "an event is delivered under another channel the session is subscribed to"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if _conformance(frame):
            others = sorted(
                c
                for c in conn.subscriptions
                if c != frame["channel"] and c.startswith("conformance.")
            )
            if others:
                frame["channel"] = others[0]
        return [frame]


class LeaksToNonSubscribers(Fault):
    name = "leaks-to-non-subscribers"
    description = "every conformance event is also sent to every other connection"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if _conformance(frame):
            for other in list(conn.proxy.connections):
                if other is not conn and frame["channel"] not in other.subscriptions:
                    await other.inject_event(frame["channel"], frame["data"])
        return [frame]


class SkipsASeq(Fault):
    name = "skips-a-seq"
    description = "after the second event of a connection, seq jumps by two"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "event":
            count = conn.state["events"] = conn.state.get("events", 0) + 1
            if count == 2:
                conn.skip_seq()
        return [frame]


class DuplicatesOnResume(Fault):
    name = "duplicates-on-resume"
    description = "after a resumed welcome, the last event the client had is sent again"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "event" and conn.session is not None:
            conn.proxy.state_for(conn.session)["last"] = dict(frame)
        if frame.get("type") == "welcome" and frame.get("resumed") is True:
            last = conn.proxy.state_for(str(frame.get("session"))).get("last")
            return [frame, last] if last is not None else [frame]
        return [frame]


class ReplaysOutOfOrder(Fault):
    name = "replays-out-of-order"
    description = "the replay after a resume is sent newest first"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome" and frame.get("resumed") is True:
            conn.state["replay_until"] = frame.get("seq", 0)
            conn.state["held"] = []
            return [frame]
        held: list[Frame] | None = conn.state.get("held")
        if held is not None and frame.get("type") == "event":
            held.append(frame)
            if frame.get("seq", 0) >= conn.state["replay_until"]:
                conn.state["held"] = None
                seqs = [f["seq"] for f in held]
                reordered = list(reversed(held))
                for f, seq in zip(reordered, seqs, strict=True):
                    f["seq"] = seq
                return reordered
            return []
        return [frame]


class ForgetsSubscriptionsOnResume(Fault):
    name = "forgets-subscriptions-on-resume"
    description = "a resumed session silently loses its subscriptions (after the replay)"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome" and frame.get("resumed") is True:
            for n, channel in enumerate(sorted(conn.subscriptions)):
                await conn.to_server(
                    {"type": "unsubscribe", "id": f"forget-{n}", "channel": channel}
                )
        if frame.get("type") in ("ack", "error") and str(frame.get("id", "")).startswith("forget-"):
            return []
        return [frame]


class AcceptsForbiddenPublish(Fault):
    name = "accepts-forbidden-publish"
    description = "a client publish on system/progress is acked and broadcast"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and frame.get("channel") in ("system", "progress"):
            await conn.to_client({"type": "ack", "id": frame.get("id")})
            for other in list(conn.proxy.connections):
                if frame["channel"] in other.subscriptions:
                    await other.inject_event(frame["channel"], frame.get("data"))
            return []
        return [frame]


class IgnoresIdentityOnResume(Fault):
    name = "ignores-identity-on-resume"
    description = "tokens are dropped from hello, so any identity can resume any session"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "hello":
            frame.pop("token", None)
        return [frame]


class IgnoresFrameLimit(Fault):
    name = "ignores-frame-limit"
    description = "client frames over max_frame_bytes are silently dropped instead of closing 1009"
    limit = 65536

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if len(json.dumps(frame, separators=(",", ":")).encode()) > self.limit - 64:
            return []
        return [frame]


class NeverPings(Fault):
    name = "never-pings"
    description = "the server's heartbeat pings are dropped"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        return [] if frame.get("type") == "ping" else [frame]


class ChatReplyToEveryone(Fault):
    name = "chat-reply-to-everyone"
    description = "chat reply events are copied to every other connection subscribed to chat"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "event" and frame.get("channel") == "chat":
            for other in list(conn.proxy.connections):
                if other is not conn and "chat" in other.subscriptions:
                    await other.inject_event("chat", frame.get("data"))
        return [frame]


class BreaksLastEventId(Fault):
    name = "breaks-sse-last-event-id"
    description = "SSE reconnections lose Last-Event-ID (header and query), so never resume"

    def http_request(self, path: str, headers: dict[str, str], query: dict[str, str]) -> None:
        for key in [k for k in headers if k.lower() == "last-event-id"]:
            del headers[key]
        query.pop("last_event_id", None)


class WrongAckId(Fault):
    name = "wrong-ack-id"
    description = "acks of publishes carry a different id"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish":
            conn.state.setdefault("publishes", set()).add(frame.get("id"))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "ack" and frame.get("id") in conn.state.get("publishes", ()):
            frame["id"] = f"{frame['id']}x"
        return [frame]


class QueueVersionStuck(Fault):
    name = "queue-version-stuck"
    description = "playqueue states keep the version of the subscribe snapshot"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if (
            frame.get("type") == "event"
            and frame.get("channel") == "playqueue"
            and isinstance(data, dict)
        ):
            data["version"] = conn.state.setdefault("version", data.get("version"))
        return [frame]


class AltersData(Fault):
    name = "alters-data"
    description = "the body of conformance events loses its last object member or list item"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if _conformance(frame) and isinstance(data, dict):
            body = data.get("body")
            if isinstance(body, dict) and body:
                body.pop(sorted(body)[-1])
            elif isinstance(body, list) and body:
                body.pop()
            elif isinstance(body, str):
                data["body"] = body.strip() + "!"
        return [frame]


class IgnoresUnsubscribe(Fault):
    name = "ignores-unsubscribe"
    description = "unsubscribe is acked but never reaches the server"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "unsubscribe":
            channel = frame.get("channel")
            if channel in conn.subscriptions:
                await conn.to_client({"type": "ack", "id": frame.get("id")})
                return []
        return [frame]


class ReordersForOneReceiver(Fault):
    name = "reorders-for-one-receiver"
    description = "the third connection gets each pair of events of a channel swapped"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if conn.index != 2 or not _conformance(frame):
            return [frame]
        held: Frame | None = conn.state.pop("held", None)
        if held is None:
            conn.state["held"] = frame
            loop = asyncio.get_running_loop()
            loop.call_later(0.5, lambda: asyncio.ensure_future(self._release(conn, frame)))
            return []
        if held["channel"] != frame["channel"]:
            return [held, frame]
        # Same seqs, swapped contents: a different order of the channel for this receiver.
        first = {**frame, "seq": held["seq"]}
        second = {**held, "seq": frame["seq"]}
        return [first, second]

    async def _release(self, conn: Conn, frame: Frame) -> None:
        if conn.state.get("held") is frame:
            del conn.state["held"]
            await conn.to_client(frame)


class RefusesEveryResume(Fault):
    name = "refuses-every-resume"
    description = "hello.resume is dropped: every reconnection gets a new session"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "hello":
            frame.pop("resume", None)
        return [frame]


class ProgressGoesBack(Fault):
    name = "progress-goes-back"
    description = "a running task's progress current drops by two after reaching two"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("channel") == "progress" and isinstance(data, dict):
            current = data.get("current")
            if data.get("status") == "running" and isinstance(current, int) and current >= 3:
                data["current"] = current - 2
        return [frame]


class ChatSkipsAChunk(Fault):
    name = "chat-skips-a-chunk"
    description = "the second chunk of every chat reply is lost"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("channel") == "chat" and isinstance(data, dict) and data.get("index") == 1:
            # Keep seq contiguous: the loss is in the chat stream, not in the session's seq.
            conn.proxy.deltas[str(conn.session)] = conn.delta - 1
            conn.last_seq -= 1
            return []
        return [frame]


class RepliesToEveryone(Fault):
    name = "replies-to-everyone"
    description = "every ack and error is also sent to every other connection"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") in ("ack", "error"):
            for other in list(conn.proxy.connections):
                if other is not conn:
                    await other.to_client(frame)
        return [frame]


class KeepsReplacedConnection(Fault):
    name = "keeps-replaced-connection"
    description = "a connection whose session was resumed elsewhere is never closed (no 4411)"

    async def server_closed(self, conn: Conn, code: int, reason: str) -> bool:
        return code != 4411


class ResumesUnknownSessions(Fault):
    name = "resumes-unknown-sessions"
    description = "a refused resume is reported as resumed:true under the requested session id"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume")
        if frame.get("type") == "hello" and isinstance(resume, dict):
            conn.state["asked"] = resume.get("session")
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        asked = conn.state.pop("asked", None)
        if frame.get("type") == "welcome" and asked and frame.get("resumed") is False:
            frame["resumed"] = True
            frame["session"] = asked
        return [frame]


class QueueBroadcastsRefusals(Fault):
    name = "queue-broadcasts-refusals"
    description = "a refused playqueue command still broadcasts the (unchanged) state"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and frame.get("channel") == "playqueue":
            conn.state.setdefault("queue_ids", set()).add(frame.get("id"))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        state = conn.proxy.state_for("playqueue")
        if frame.get("type") == "event" and frame.get("channel") == "playqueue":
            state["last"] = frame.get("data")
        refused = frame.get("type") == "error" and frame.get("id") in conn.state.get(
            "queue_ids", ()
        )
        if refused and state.get("last") is not None:
            await conn.to_client(frame)  # the error, then the broadcast that must not happen
            for other in list(conn.proxy.connections):
                if "playqueue" in other.subscriptions:
                    await other.inject_event("playqueue", state["last"])
            return []
        return [frame]


class MatchesChannelPrefixes(Fault):
    name = "matches-channel-prefixes"
    description = "subscribers of p.a also get events of channels starting with p.a (p.a.b, p.ab)"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if _conformance(frame):
            channel = frame["channel"]
            for other in list(conn.proxy.connections):
                if other is conn or channel in other.subscriptions:
                    continue
                if any(channel != c and channel.startswith(c) for c in other.subscriptions):
                    await other.inject_event(channel, frame["data"])
        return [frame]


class EchoesToPublisher(Fault):
    name = "echoes-to-publisher"
    description = "a publisher receives its own event even when not subscribed"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and str(frame.get("channel", "")).startswith(
            "conformance."
        ):
            conn.state.setdefault("published", {})[frame.get("id")] = frame
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        sent = conn.state.get("published", {}).pop(frame.get("id"), None)
        if (
            frame.get("type") == "ack"
            and sent is not None
            and sent["channel"] not in conn.subscriptions
        ):
            await conn.to_client(frame)
            await conn.inject_event(sent["channel"], sent.get("data"))
            return []
        return [frame]


class RepliesOutOfOrder(Fault):
    name = "replies-out-of-order"
    description = "the reply to a subscribe is held back until the next reply has been sent"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "subscribe":
            conn.state.setdefault("subscribes", set()).add(frame.get("id"))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") not in ("ack", "error"):
            return [frame]
        held: Frame | None = conn.state.pop("held", None)
        if held is not None:
            return [frame, held]
        if frame.get("id") in conn.state.get("subscribes", ()):
            conn.state["held"] = frame
            # Not forever: a lone subscribe still gets its reply, late.
            asyncio.get_running_loop().call_later(
                0.5, lambda: asyncio.ensure_future(self._release(conn, frame))
            )
            return []
        return [frame]

    async def _release(self, conn: Conn, frame: Frame) -> None:
        if conn.state.get("held") is frame:
            del conn.state["held"]
            await conn.to_client(frame)


class DetachedEventsNotBuffered(Fault):
    name = "detached-events-not-buffered"
    description = (
        "events assigned while no connection of the session is attached (after the client's "
        "half-close) are left out of the replay, yet the welcome says resumed"
    )

    # A server that fills its resume buffer on the send path has exactly this bug: a detached
    # session keeps its seq counter but buffers nothing [RESUME-8], so the resume replays only
    # part of the missed events [RESUME-2, RESUME-3].

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if conn.session is None:
            return [frame]
        session = conn.proxy.state_for(conn.session)
        if frame.get("type") == "welcome" and frame.get("resumed") is True:
            conn.state["lost"] = (session.get("written", 0), frame.get("seq", 0))
            return [frame]
        if frame.get("type") != "event" or not isinstance(frame.get("seq"), int):
            return [frame]
        lost: tuple[int, int] | None = conn.state.get("lost")
        if lost is not None and lost[0] < frame["seq"] <= lost[1]:
            return []  # assigned while detached: never buffered, so never replayed
        session["written"] = frame["seq"]
        return [frame]


class SystemNoticeLevelCoarsened(Fault):
    name = "system-notice-level-coarsened"
    description = "system notices of level debug are delivered as level info"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if (
            frame.get("type") == "event"
            and frame.get("channel") == "system"
            and isinstance(data, dict)
            and data.get("level") == "debug"
        ):
            data["level"] = "info"  # still schema-valid: only JSON equality can catch it
        return [frame]


class SystemNoticeToOneSubscriber(Fault):
    name = "system-notice-to-one-subscriber"
    description = "each system notice reaches only the first connection it is sent to"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") != "event" or frame.get("channel") != "system":
            return [frame]
        delivered: set[str] = conn.proxy.state_for("system").setdefault("delivered", set())
        key = json.dumps(frame.get("data"), sort_keys=True)
        if key not in delivered:
            delivered.add(key)
            return [frame]
        # Keep seq contiguous: the loss is of the notice, not a hole in the session's seq.
        conn.proxy.deltas[str(conn.session)] = conn.delta - 1
        conn.last_seq -= 1
        return []


# --------------------------------------------------------------------------- #9: stream audit


class CopiesOneEventVerbatim(Fault):
    name = "copies-one-event-verbatim"
    description = (
        "the first conformance event each connection receives is also copied, verbatim (its "
        "seq included), to another connection that is not subscribed to its channel"
    )

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if _conformance(frame) and not conn.state.get("copied"):
            for other in reversed(conn.proxy.connections):
                if other is conn or other.session is None:
                    continue
                if frame["channel"] not in other.subscriptions:
                    conn.state["copied"] = True
                    await other.to_client(dict(frame))
                    break
        return [frame]


class LeaksAfterUnsubscribe(Fault):
    name = "leaks-after-unsubscribe"
    description = "a connection keeps getting a channel's events after the ack of its unsubscribe"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        kind, channel = frame.get("type"), str(frame.get("channel", ""))
        if kind == "unsubscribe":
            conn.state.setdefault("leaving", {})[frame.get("id")] = channel
        if kind == "publish" and channel.startswith("conformance."):
            conn.state.setdefault("publishing", {})[frame.get("id")] = frame
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") != "ack":
            return [frame]
        leaving: dict[str, str] = conn.state.get("leaving", {})
        if frame.get("id") in leaving:
            conn.state.setdefault("left", set()).add(leaving.pop(frame["id"]))
        published = conn.state.get("publishing", {}).pop(frame.get("id"), None)
        if published is not None:
            for other in list(conn.proxy.connections):
                if published["channel"] in other.state.get("left", set()) - other.subscriptions:
                    await other.inject_event(published["channel"], published.get("data"))
        return [frame]


class ChatReplyLeaksToAnotherSession(Fault):
    name = "chat-reply-leaks-to-another-session"
    description = (
        "each chat reply event also reaches the newest other connection, subscribed or not"
    )

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "event" and frame.get("channel") == "chat":
            for other in reversed(conn.proxy.connections):
                if other is not conn and other.session not in (None, conn.session):
                    await other.inject_event("chat", frame.get("data"))
                    break
        return [frame]


# --------------------------------------------------------------------------- #9: session life


class DiscardsOnPoliteClose(Fault):
    name = "discards-on-polite-close"
    description = "a session whose client closed with 1000 is ended: its resume is refused"

    async def server_closed(self, conn: Conn, code: int, reason: str) -> bool:
        if code == 1000 and conn.session is not None:
            conn.proxy.state_for(conn.session)["closed_politely"] = True
        return True

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume")
        polite = isinstance(resume, dict) and conn.proxy.state_for(str(resume.get("session"))).get(
            "closed_politely"
        )
        if frame.get("type") == "hello" and polite:
            frame.pop("resume")
        return [frame]


class RefusedResumeDiscardsLiveSession(Fault):
    name = "refused-resume-discards-live-session"
    description = (
        "a refused resume request discards the session it named: the connection holding that "
        "session silently stops getting events (the RESUME-12 bug after a takeover)"
    )

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume")
        if frame.get("type") == "hello" and isinstance(resume, dict):
            conn.state["asked"] = resume.get("session")
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        asked = conn.state.get("asked")
        if frame.get("type") == "welcome" and asked and frame.get("resumed") is False:
            conn.proxy.state_for(str(asked))["discarded"] = True
        dead = conn.session is not None and conn.proxy.state_for(conn.session).get("discarded")
        if dead and frame.get("type") == "event":
            conn.proxy.deltas[str(conn.session)] = conn.delta - 1
            conn.last_seq -= 1
            return []
        return [frame]


class ExplainsRefusedResume(Fault):
    name = "explains-refused-resume"
    description = "a welcome refusing a resume says why, in an extra member"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "hello" and isinstance(frame.get("resume"), dict):
            conn.state["asked"] = True
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        asked = frame.get("type") == "welcome" and conn.state.pop("asked", False)
        if asked and frame.get("resumed") is False:
            frame["reason"] = "unknown session"
        return [frame]


class LowersLimitsOnResume(Fault):
    name = "lowers-limits-on-resume"
    description = "a resumed welcome announces one subscription fewer than the first welcome"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        limits = frame.get("limits")
        resumed = frame.get("type") == "welcome" and frame.get("resumed") is True
        if (
            resumed
            and isinstance(limits, dict)
            and isinstance(limits.get("max_subscriptions"), int)
        ):
            limits["max_subscriptions"] -= 1
        return [frame]


class _HalvesAnnouncedLimit(Fault):
    """Announces half of one optional limit while the server keeps the real one (#10)."""

    limit = ""

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        limits = frame.get("limits")
        if (
            frame.get("type") == "welcome"
            and isinstance(limits, dict)
            and isinstance(limits.get(self.limit), int)
        ):
            limits[self.limit] = max(1, limits[self.limit] // 2)
        return [frame]


class KeepsMoreDetachedThanAnnounced(_HalvesAnnouncedLimit):
    name = "keeps-more-detached-than-announced"
    description = (
        "announces half the max_detached_sessions it keeps: one identity's detached sessions "
        "beyond the announced bound are not discarded"
    )
    limit = "max_detached_sessions"


class KeepsMoreBytesThanAnnounced(_HalvesAnnouncedLimit):
    name = "keeps-more-bytes-than-announced"
    description = (
        "announces half the resume_buffer_bytes it keeps: a session that missed more than the "
        "announced bytes is still resumed"
    )
    limit = "resume_buffer_bytes"


# --------------------------------------------------------------------------- #9: new cases


class DuplicatesAckId(Fault):
    name = "duplicates-ack-id"
    description = "acks are written with their id member twice"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "ack":
            text = json.dumps(frame["id"])
            conn.send_raw(f'{{"type":"ack","id":{text},"id":{text}}}')
            return []
        return [frame]


class NumbersAcks(Fault):
    name = "numbers-acks"
    description = "acks carry the session's current seq"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "ack":
            frame["seq"] = conn.last_seq
        return [frame]


class UnregisteredErrorCode(Fault):
    name = "unregistered-error-code"
    description = "already_subscribed is reported with a code of the server's own"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "error" and frame.get("code") == "already_subscribed":
            frame["code"] = "duplicate_subscription"
        return [frame]


class HeartbeatOutOfRange(Fault):
    name = "heartbeat-out-of-range"
    description = "the welcome announces a heartbeat of 500 ms"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome":
            frame["heartbeat_ms"] = 500
        return [frame]


class HugeLimit(Fault):
    name = "huge-limit"
    description = "the welcome announces a resume_buffer of 2^53"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome" and isinstance(frame.get("limits"), dict):
            frame["limits"]["resume_buffer"] = 2**53
        return [frame]


class AcksWithoutId(Fault):
    name = "acks-without-id"
    description = "the ack of every second subscribe loses its id"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "ack":
            count = conn.state["acks"] = conn.state.get("acks", 0) + 1
            if count == 2:
                frame.pop("id", None)
        return [frame]


class DedupsIdsAcrossSessions(Fault):
    name = "dedups-ids-across-sessions"
    description = "a publish whose id another connection used is acked and dropped"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish":
            owners: dict[str, Conn] = conn.proxy.state_for("ids").setdefault("owners", {})
            owner = owners.setdefault(str(frame.get("id")), conn)
            if owner is not conn:
                await conn.to_client({"type": "ack", "id": frame.get("id")})
                return []
        return [frame]


class AppliesChangedRepeat(Fault):
    name = "applies-changed-repeat"
    description = "a repeated publish id with new data is applied as a new publish"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish":
            first: dict[str, object] = conn.state.setdefault("first", {})
            known = first.setdefault(str(frame.get("id")), frame.get("data"))
            if known != frame.get("data"):
                frame["id"] = f"{frame['id']}-again"
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") in ("ack", "error") and str(frame.get("id", "")).endswith("-again"):
            frame["id"] = str(frame["id"])[: -len("-again")]
        return [frame]


class ProgressPublishedByClients(Fault):
    name = "progress-published-by-clients"
    description = "the catalogue lists progress with publish: client"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome":
            for entry in frame.get("channels", []):
                if isinstance(entry, dict) and entry.get("name") == "progress":
                    entry["publish"] = "client"
        return [frame]


class RefusesDeepFamilyNames(Fault):
    name = "refuses-deep-family-names"
    description = "conformance names of more than six segments are unknown channels"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        channel = str(frame.get("channel", ""))
        deep = channel.startswith("conformance.") and channel.count(".") >= 6
        if frame.get("type") in ("subscribe", "publish") and deep:
            await conn.to_client(
                {"type": "error", "id": frame.get("id"), "code": "unknown_channel", "message": ""}
            )
            return []
        return [frame]


class ErrorsOnUnsolicitedPong(Fault):
    name = "errors-on-unsolicited-pong"
    description = "a client pong is answered with a bad_frame error"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "pong":
            await conn.to_client(
                {"type": "error", "code": "bad_frame", "message": "unexpected pong", "pointer": ""}
            )
        return [frame]


class ActsAfterClosingFrame(Fault):
    name = "acts-after-closing-frame"
    description = "a frame right behind a second hello is applied before the hello is read"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "hello":
            if conn.state.get("helloed"):
                conn.state["held"] = frame
                return []
            conn.state["helloed"] = True
            return [frame]
        held = conn.state.pop("held", None)
        return [frame, held] if held is not None else [frame]


class UnregisteredCloseCode(Fault):
    name = "unregistered-close-code"
    description = "a duplicate hello is closed with 4499, a private code outside the registry"

    async def server_closed(self, conn: Conn, code: int, reason: str) -> bool:
        if code != 4409:
            return True
        conn.close_client(4499, reason)
        return False


class HoldsChatAck(Fault):
    name = "holds-chat-ack"
    description = "the ack of a chat message is sent after the first event of its reply"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and frame.get("channel") == "chat":
            conn.state.setdefault("chat", set()).add(frame.get("id"))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        held: dict[str, Frame] = conn.state.setdefault("held", {})
        if frame.get("type") == "ack" and frame.get("id") in conn.state.get("chat", ()):
            held[str(frame["id"])] = frame
            return []
        data = frame.get("data")
        if frame.get("channel") == "chat" and isinstance(data, dict):
            ack = held.pop(str(data.get("request")), None)
            if ack is not None:
                return [frame, ack]
        return [frame]


class CurrentPastTheEnd(Fault):
    name = "current-past-the-end"
    description = "playqueue states point current one past the last item"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("channel") == "playqueue" and isinstance(data, dict):
            items = data.get("items")
            if isinstance(items, list) and items:
                data["current"] = len(items)
        return [frame]


class ConditionBeforeVersion(Fault):
    name = "condition-before-version"
    description = "a playqueue remove far past the end is refused before if_version is checked"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if (
            frame.get("type") == "publish"
            and frame.get("channel") == "playqueue"
            and isinstance(data, dict)
            and data.get("op") == "remove"
            and isinstance(data.get("index"), int)
            and data["index"] >= 1000
        ):
            error = {"type": "error", "id": frame.get("id"), "code": "invalid_command"}
            await conn.to_client({**error, "message": "", "pointer": "/data/index"})
            return []
        return [frame]


class SchemaBeforeForbidden(Fault):
    name = "schema-before-forbidden"
    description = "a client publish on system or progress is checked against the schema first"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and frame.get("channel") in ("system", "progress"):
            error = {"type": "error", "id": frame.get("id"), "code": "invalid_payload"}
            await conn.to_client({**error, "message": "", "pointer": "/data"})
            return []
        return [frame]


class UnknownOnUnsubscribe(Fault):
    name = "unknown-on-unsubscribe"
    description = "an unsubscribe from a name outside the catalogue is answered unknown_channel"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "unsubscribe":
            conn.state.setdefault("unsubscribes", set()).add(frame.get("id"))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        mine = frame.get("id") in conn.state.get("unsubscribes", ())
        if mine and frame.get("type") == "error" and frame.get("code") == "not_subscribed":
            frame["code"] = "unknown_channel"
        return [frame]


class BadChannelPointer(Fault):
    name = "bad-channel-pointer"
    description = "a bad_frame for a malformed channel name points at the whole frame"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "error" and frame.get("pointer") == "/channel":
            frame["pointer"] = ""
        return [frame]


class ErrorClosesOthers(Fault):
    name = "error-closes-others"
    description = "an error reply to one connection closes every other connection with 1011"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "error":
            for other in list(conn.proxy.connections):
                if other is not conn:
                    other.close_client(1011)
        return [frame]


class SecondCatalogue(Fault):
    name = "second-catalogue"
    description = "after its first ack a connection gets a second welcome, without chat"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome":
            conn.state["welcome"] = dict(frame)
        if frame.get("type") == "ack" and not conn.state.get("again") and "welcome" in conn.state:
            conn.state["again"] = True
            again = dict(conn.state["welcome"])
            again["channels"] = [c for c in again.get("channels", []) if c.get("name") != "chat"]
            return [frame, again]
        return [frame]


class ProgressOverTotal(Fault):
    name = "progress-over-total"
    description = "a running task reports one more than its total"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("channel") != "progress" or not isinstance(data, dict):
            return [frame]
        if data.get("status") == "running" and isinstance(data.get("total"), int):
            data["current"] = data["total"] + 1
        return [frame]


def _sanitised(data: Any) -> bool:
    # The lenient reading of the standard library: what the reference's door refuses.
    return not is_i_json(data)


class RelaysNonIJson(Fault):
    name = "relays-non-i-json"
    description = (
        "publish data that is not I-JSON (a lone surrogate, a noncharacter, a huge number, deep"
        " nesting) is acked and delivered to every subscriber as it was read"
    )

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "publish" and _sanitised(frame.get("data")):
            mark = f"relayed-{conn.index}-{frame.get('id')}"
            conn.proxy.state_for("relayed")[mark] = frame["data"]
            frame["data"] = {"mark": mark}
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("type") == "event" and isinstance(data, dict):
            original = conn.proxy.state_for("relayed").get(str(data.get("mark")))
            if original is not None:
                frame["data"] = original
        return [frame]


def _has_duplicates(text: str) -> bool:
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        found = found or len({k for k, _ in items}) != len(items)
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return False
    return found


class LastDuplicateWins(Fault):
    name = "last-duplicate-wins"
    description = "an object with a duplicate member name is read with the last one winning"

    def client_text(self, conn: Conn, text: str) -> str:
        if _has_duplicates(text):
            return json.dumps(json.loads(text), separators=(",", ":"))
        return text


class CountsCharactersNotBytes(Fault):
    name = "counts-characters-not-bytes"
    description = (
        "frame length is measured in characters: a frame of multi-byte characters over"
        " max_frame_bytes bytes is accepted"
    )

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome":
            conn.state["limit"] = frame.get("limits", {}).get("max_frame_bytes")
        return [frame]

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        limit = conn.state.get("limit")
        text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        if isinstance(limit, int) and len(text) <= limit < len(text.encode()):
            # What the reference would close with 1009 reaches it as ASCII of the same length.
            frame = json.loads("".join(c if c.isascii() else "x" for c in text))
        return [frame]


def _rounded(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > 2**31:
        return float(f"{value:.7g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


class RoundsLargeIntegers(Fault):
    name = "rounds-large-integers"
    description = "integers above 2**31 in event data are delivered rounded to 7 significant digits"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if _conformance(frame):
            frame["data"] = _rounded(frame["data"])
        return [frame]


class HttpPublishIsLenient(Fault):
    name = "http-publish-is-lenient"
    description = (
        "POST /publish reads its body leniently: data that is not I-JSON is published"
        " (as a stand-in)"
    )

    def http_body(self, path: str, body: bytes) -> bytes:
        if not path.endswith("/publish"):
            return body
        try:
            value = json.loads(body)
        except ValueError:
            return body
        if not isinstance(value, dict):
            return body
        if _sanitised(value.get("data")) or _has_duplicates(body.decode("utf-8", "surrogatepass")):
            value["data"] = {"mark": "lenient"}
            return json.dumps(value).encode()
        return body


class ReappliesRepeatedIds(Fault):
    name = "reapplies-repeated-ids"
    description = "a subscribe or unsubscribe sent again with its old id is applied again"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") in ("subscribe", "unsubscribe"):
            seen: set[str] = conn.state.setdefault("seen", set())
            if frame.get("id") in seen:
                frame["id"] = f"{frame['id']}-again"
            else:
                seen.add(str(frame.get("id")))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") in ("ack", "error") and str(frame.get("id", "")).endswith("-again"):
            frame["id"] = str(frame["id"])[: -len("-again")]
        return [frame]


class AcceptsStepPastTheEnds(Fault):
    name = "accepts-step-past-the-ends"
    description = "previous at the first item and next at the last are acked, not refused"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        step = isinstance(data, dict) and data.get("op") in ("previous", "next")
        if frame.get("channel") == "playqueue" and step:
            conn.state.setdefault("steps", set()).add(frame.get("id"))
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        refused = frame.get("type") == "error" and frame.get("code") == "invalid_command"
        if refused and frame.get("id") in conn.state.get("steps", ()):
            return [{"type": "ack", "id": frame["id"]}]
        return [frame]


class ForwardsBackwardProgress(Fault):
    name = "forwards-backward-progress"
    description = (
        "after a running progress update at 5, subscribers also get the task back at 3 (a "
        "server that skips the PROGRESS-1 check of HTTP publishes)"
    )

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        data = frame.get("data")
        if frame.get("channel") != "progress" or not isinstance(data, dict):
            return [frame]
        if data.get("status") == "running" and data.get("current") == 5:
            await conn.to_client(frame)
            await conn.inject_event("progress", {**data, "current": 3})
            return []
        return [frame]


class MissingMemberPointsAtWhole(Fault):
    name = "missing-member-points-at-whole"
    description = "a bad_frame for a missing id or type points at the whole frame"

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "error" and frame.get("pointer") in ("/id", "/type"):
            frame["pointer"] = ""
        return [frame]


class DedupsBeforeValidating(Fault):
    name = "dedups-before-validating"
    description = "a frame whose id was answered gets the remembered reply even when invalid"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        answered: dict[str, Frame] = conn.state.setdefault("answered", {})
        frame_id = frame.get("id")
        if isinstance(frame_id, str) and frame_id in answered:
            await conn.to_client(dict(answered[frame_id]))
            return []
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        frame_id = frame.get("id")
        if frame.get("type") in ("ack", "error") and isinstance(frame_id, str):
            conn.state.setdefault("answered", {}).setdefault(frame_id, dict(frame))
        return [frame]


class LimitBeforeAlreadySubscribed(Fault):
    name = "limit-before-already-subscribed"
    description = "at max_subscriptions, a subscribe of a subscribed channel is too_many"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        allowed = conn.state.get("max_subscriptions")
        subscribed = conn.subscriptions
        if (
            frame.get("type") == "subscribe"
            and isinstance(allowed, int)
            and frame.get("channel") in subscribed
            and len(subscribed) >= allowed
        ):
            error = {"type": "error", "id": frame.get("id"), "code": "too_many_subscriptions"}
            await conn.to_client({**error, "message": "too many subscriptions"})
            return []
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome" and isinstance(frame.get("limits"), dict):
            conn.state["max_subscriptions"] = frame["limits"].get("max_subscriptions")
        return [frame]


class HttpSchemaBeforeCatalogue(Fault):
    name = "http-schema-before-catalogue"
    description = (
        "POST /publish checks a conformance mark before the catalogue: invalid data on an"
        " unknown channel is 422 (the relay moves it onto a conformance channel)"
    )

    def http_body(self, path: str, body: bytes) -> bytes:
        if not path.endswith("/publish"):
            return body
        try:
            value = json.loads(body)
        except ValueError:
            return body
        if not isinstance(value, dict) or not str(value.get("channel", "")).startswith("nosuch-"):
            return body
        data = value.get("data")
        if isinstance(data, dict) and "mark" in data and not isinstance(data["mark"], str):
            value["channel"] = "conformance.relay"
            return json.dumps(value).encode()
        return body


class CountsClosedStreams(Fault):
    name = "counts-closed-streams"
    description = (
        "GET /health keeps counting every SSE stream that has closed in connections (a server"
        " that never forgets a finished stream, as if its discard were lost)"
    )

    def __init__(self) -> None:
        self.closed_streams = 0

    def http_finished(self, path: str) -> None:
        if path.endswith("/events"):
            self.closed_streams += 1

    def health_body(self, body: bytes) -> bytes:
        try:
            value = json.loads(body)
        except ValueError:
            return body
        if isinstance(value, dict) and isinstance(value.get("connections"), int):
            value["connections"] += self.closed_streams
            return json.dumps(value).encode()
        return body


@dataclass(frozen=True)
class BrokenServer:
    """A fault, the cases that must catch it, and the requirement IDs they may cite.

    With ``machine`` the stateful machine (STATE-01) runs too and must catch the fault on its
    own, citing one of the same IDs. ``setup`` names how the server behind the relay is
    configured (``gap_faults.SETUPS``): ``authenticated``, for instance,
    accepts only ``gap_faults.PROOF_TOKENS`` and the suite runs with them.
    """

    fault: type[Fault]
    cases: tuple[str, ...]
    breaks: frozenset[str]
    machine: bool = False
    setup: str = "open"

    @property
    def name(self) -> str:
        return self.fault.name

    @property
    def all_cases(self) -> tuple[str, ...]:
        return (*self.cases, "STATE-01") if self.machine else self.cases


def _b(
    fault: type[Fault], cases: tuple[str, ...], *breaks: str, machine: bool = False
) -> BrokenServer:
    return BrokenServer(fault, cases, frozenset(breaks), machine)


class UpgradesThenRefusesOrigin(Fault):
    """Refuses a browser Origin by upgrading, then closing with 4401 (instead of HTTP 403)."""

    name = "upgrades-then-refuses-origin"

    def upgrade_close(self, headers: dict[str, str]) -> int | None:
        return 4401 if "origin" in {k.lower() for k in headers} else None


BROKEN_SERVERS: tuple[BrokenServer, ...] = (
    _b(UpgradesThenRefusesOrigin, ("ORIGIN-01",), "SECURITY-14"),
    _b(MisroutesChannel, ("ROUTE-01", "ROUTE-02", "ISO-02"), "DELIVERY-2", "CONF-1", machine=True),
    _b(LeaksToNonSubscribers, ("ISO-01",), "DELIVERY-2", "OPS-6", machine=True),
    _b(SkipsASeq, ("ORDER-01",), "DELIVERY-1", machine=True),
    _b(DuplicatesOnResume, ("RECON-01",), "RESUME-3", "DELIVERY-6", machine=True),
    _b(ReplaysOutOfOrder, ("RECON-01", "RECON-02"), "RESUME-3"),
    _b(ForgetsSubscriptionsOnResume, ("RECON-01",), "RESUME-3", machine=True),
    _b(AcceptsForbiddenPublish, ("SYS-01", "SYS-02"), "CHANNEL-4"),
    _b(IgnoresIdentityOnResume, ("RECON-07",), "SECURITY-2", machine=True),
    _b(IgnoresFrameLimit, ("LIM-01",), "TRANSPORT-6", "LIMIT-2"),
    # HB-01 may see the server's own silence timeout first (4410): HEARTBEAT-3 is cited then.
    _b(NeverPings, ("HB-01",), "HEARTBEAT-1", "HEARTBEAT-3"),
    _b(ChatReplyToEveryone, ("ISO-04",), "CHAT-2"),
    _b(BreaksLastEventId, ("SSE-STREAM-02", "SSE-STREAM-03"), "SSE-2"),
    _b(WrongAckId, ("ROUTE-01",), "OPS-1", machine=True),
    _b(QueueVersionStuck, ("QUEUE-01", "QUEUE-02", "QUEUE-03"), "QUEUE-2", "QUEUE-8"),
    _b(AltersData, ("ROUTE-03",), "DELIVERY-5"),
    _b(IgnoresUnsubscribe, ("ISO-03",), "OPS-6"),
    _b(ReordersForOneReceiver, ("ORDER-02",), "DELIVERY-3"),
    _b(RefusesEveryResume, ("RECON-01", "RECON-06"), "RESUME-2", machine=True),
    _b(ProgressGoesBack, ("PROG-01",), "PROGRESS-1"),
    _b(ChatSkipsAChunk, ("CHAT-01", "CHAT-02"), "CHAT-1"),
    _b(RepliesToEveryone, ("ISO-05",), "SECURITY-3", "OPS-13"),
    _b(KeepsReplacedConnection, ("RECON-08", "RECON-02"), "RESUME-4"),
    _b(ResumesUnknownSessions, ("RECON-04", "RECON-05"), "RESUME-2", "RESUME-7"),
    _b(QueueBroadcastsRefusals, ("QUEUE-02", "QUEUE-03"), "QUEUE-2", "QUEUE-8"),
    _b(MatchesChannelPrefixes, ("ISO-02",), "DELIVERY-2"),
    _b(EchoesToPublisher, ("ROUTE-02",), "DELIVERY-2"),
    _b(RepliesOutOfOrder, ("ORDER-03",), "OPS-2"),
    _b(DetachedEventsNotBuffered, ("RECON-03",), "RESUME-2", "RESUME-3"),
    _b(SystemNoticeLevelCoarsened, ("SYS-03",), "DELIVERY-5"),
    _b(SystemNoticeToOneSubscriber, ("SYS-03",), "SYSTEM-2"),
    # #9: leaks to connections no case watches are caught by the stream audit (audit.py).
    _b(CopiesOneEventVerbatim, ("ORDER-01", "ROUTE-03"), "DELIVERY-2"),
    _b(LeaksAfterUnsubscribe, ("ISO-03", "FORM-01"), "OPS-6", "DELIVERY-2"),
    _b(ChatReplyLeaksToAnotherSession, ("ISO-04", "CHAT-ACK-01"), "CHAT-2", "SECURITY-3"),
    _b(DiscardsOnPoliteClose, ("LIFE-01",), "RESUME-10"),
    _b(RefusedResumeDiscardsLiveSession, ("LIFE-02",), "RESUME-12"),
    _b(ExplainsRefusedResume, ("LIFE-03",), "RESUME-13"),
    _b(LowersLimitsOnResume, ("LIFE-04",), "LIMIT-6"),
    _b(KeepsMoreDetachedThanAnnounced, ("MEM-01",), "LIMIT-12"),
    _b(KeepsMoreBytesThanAnnounced, ("MEM-02",), "LIMIT-11"),
    _b(DuplicatesAckId, ("FORM-01",), "TRANSPORT-9"),
    _b(NumbersAcks, ("FORM-01",), "DELIVERY-7"),
    _b(UnregisteredErrorCode, ("FORM-01",), "OPS-18"),
    _b(HeartbeatOutOfRange, ("FORM-01",), "HEARTBEAT-5"),
    _b(HugeLimit, ("FORM-01",), "TRANSPORT-10"),
    _b(AcksWithoutId, ("FORM-01",), "OPS-12"),
    _b(DedupsIdsAcrossSessions, ("IDS-01",), "OPS-11"),
    _b(AppliesChangedRepeat, ("IDS-02",), "OPS-16"),
    _b(ProgressPublishedByClients, ("CAT-01",), "PROGRESS-3", "CHANNEL-15"),
    _b(RefusesDeepFamilyNames, ("CAT-02",), "CONF-3"),
    _b(ErrorsOnUnsolicitedPong, ("TOL-01",), "HEARTBEAT-7"),
    _b(ActsAfterClosingFrame, ("CLOSE-01",), "TRANSPORT-16"),
    _b(UnregisteredCloseCode, ("CLOSE-01",), "TRANSPORT-14"),
    _b(HoldsChatAck, ("CHAT-ACK-01",), "CHAT-4"),
    _b(CurrentPastTheEnd, ("QRULE-01",), "QUEUE-4"),
    _b(ConditionBeforeVersion, ("QRULE-02",), "QUEUE-6"),
    _b(SchemaBeforeForbidden, ("PUB-01",), "CHANNEL-14"),
    _b(UnknownOnUnsubscribe, ("PUB-02",), "OPS-14"),
    _b(BadChannelPointer, ("PUB-02",), "CHANNEL-8"),
    _b(ErrorClosesOthers, ("PUB-03",), "SECURITY-7"),
    _b(SecondCatalogue, ("FORM-01",), "CHANNEL-10"),
    _b(ProgressOverTotal, ("PROG-01",), "PROGRESS-2"),
    _b(
        RelaysNonIJson,
        ("ROBUST-01", "ROBUST-02", "ROBUST-04", "ROBUST-05"),
        "TRANSPORT-18",
        "TRANSPORT-20",
    ),
    _b(LastDuplicateWins, ("ROBUST-03", "ROBUST-09", "ROBUST-10"), "TRANSPORT-12", "LEGACY-5"),
    _b(CountsCharactersNotBytes, ("ROBUST-07",), "TRANSPORT-6", "LIMIT-2"),
    _b(RoundsLargeIntegers, ("ROBUST-06",), "TRANSPORT-19"),
    _b(HttpPublishIsLenient, ("ROBUST-08",), "HTTP-3"),
    # Re-applying s1 also delivers C after the ack of u1: the audit names OPS-6 first.
    _b(ReappliesRepeatedIds, ("IDS-03",), "OPS-9", "OPS-6"),
    _b(AcceptsStepPastTheEnds, ("QRULE-03",), "QUEUE-3"),
    _b(ForwardsBackwardProgress, ("PROG-HTTP-01",), "HTTP-6", "PROGRESS-1"),
    _b(MissingMemberPointsAtWhole, ("ORDER-CHK-01",), "OPS-20"),
    _b(DedupsBeforeValidating, ("ORDER-CHK-02",), "OPS-21"),
    _b(LimitBeforeAlreadySubscribed, ("ORDER-CHK-03",), "OPS-22"),
    _b(HttpSchemaBeforeCatalogue, ("ORDER-CHK-04",), "HTTP-8"),
    # The reference mutant (sse.py without connections.discard) is caught by the same case.
    _b(CountsClosedStreams, ("SSE-STREAM-10",), "HTTP-5"),
    # s-power: the OPS-9 reply-memory mutant (operations._replayed marked not replayed).
    _b(RemembersByLastUse, ("DEDUP-01",), "OPS-9"),
    _b(LegacyPingAlsoRefused, ("LEG-PING-01",), "LEGACY-7"),
    _b(UnsubscribeCutsEveryone, ("UNSUB-01",), "CONF-1", "DELIVERY-1"),
    _b(AcceptsUpdateAfterTerminal, ("PROG-HTTP-02",), "PROGRESS-1"),
    _b(PlayStartsAtTheSecond, ("QPLAY-01",), "QUEUE-5"),
    *(BrokenServer(f, c, frozenset(b), setup=setup) for f, c, b, setup in GAP_SERVERS),
    *(BrokenServer(f, c, frozenset(b), setup=setup) for f, c, b, setup in HANDSHAKE_SERVERS),
    *(BrokenServer(f, c, frozenset(b), setup=setup) for f, c, b, setup in SLOW_SERVERS),
    _b(RemoveLeavesCurrent, ("QREMOVE-01",), "QUEUE-5", "QUEUE-4"),
    _b(SlowPathSafeIntegerOffByOne, ("ROBUST-06",), "TRANSPORT-19", "DELIVERY-5"),
    _b(SlowPathDepthCountedTwice, ("ROBUST-06",), "TRANSPORT-19"),
    _b(UnexpectedMemberPointsAtFirst, ("PTR-01",), "CHANNEL-5"),
    _b(SessionIdOneLonger, ("ENV-HELLO-RESUME-SESSION-LONG",), "HANDSHAKE-4"),
    _b(SessionIdOneShorter, ("ENV-HELLO-RESUME-SESSION-MAX-LENGTH",), "HANDSHAKE-2"),
    _b(SseSkipsTheSnapshot, ("SSE-QUEUE-01",), "QUEUE-1"),
    _b(ReceiveOnlyStillChats, ("LEG-RO-01",), "LEGACY-1", "LEGACY-3"),
)

REFERENCE_ONLY: tuple[str, ...] = ()
"""Cases of the delivery suites no fault above targets (none left): the reference must pass
them too."""


def all_cases(setup: str = "open") -> tuple[str, ...]:
    """Every case some broken server relies on: the reference must pass each one (configured
    as those broken servers are, ``setup``)."""
    used = {c for b in BROKEN_SERVERS if b.setup == setup for c in b.all_cases}
    return tuple(sorted(used | (set(REFERENCE_ONLY) if setup == "open" else set())))
