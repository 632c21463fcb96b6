"""SSE binding cases: ``GET /events`` streams, resume with Last-Event-ID, errors, pings (sse.md).

Streams are read with :class:`~canaux_conformance.eventstream.SseStream`; every ``data`` is
checked with the same schemas as WebSocket frames. Events are published from a WebSocket
client on a fresh conformance channel.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable
from functools import partial

import httpx

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.eventstream import SseMessage, SseStream
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.resume_rules import Resume, ResumeExpectation, resume_expectation
from canaux_conformance.suites.http_publish import health_url
from canaux_conformance.wire import Frame, FrameValidator

__all__ = [
    "stream_01_routing",
    "stream_02_resume_header",
    "stream_03_resume_query",
    "stream_04_errors",
    "stream_05_ping_comments",
    "stream_06_other_channels",
    "stream_07_no_cross_binding",
    "stream_08_precedence",
    "stream_09_duplicate_channels",
    "stream_10_health_counts_streams",
]


def _sse_url(ctx: CaseContext) -> str:
    if not ctx.target.sse_url:
        raise CaseSkipped("no SSE endpoint (give --sse-url)")
    return ctx.target.sse_url


def _headers(ctx: CaseContext, last_event_id: str | None = None) -> dict[str, str]:
    headers = {}
    if ctx.target.token:
        headers["Authorization"] = f"Bearer {ctx.target.token}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return headers


_validator: FrameValidator | None = None


def _frame(message: SseMessage, kind: str, requirement: str) -> Frame:
    """``message.data`` as a frame of ``kind``, checked against frame.json and the channel."""
    global _validator
    if _validator is None:
        _validator = FrameValidator()
    try:
        frame = message.json()
    except ValueError:
        raise CaseFailed(
            f"SSE data is not JSON: {message.data[:200]!r}", requirement=requirement
        ) from None
    problem = _validator.frame_error(frame)
    if problem is not None:
        raise CaseFailed(f"SSE data is not a valid frame: {problem}", requirement="TRANSPORT-3")
    if frame.get("type") != kind:
        raise CaseFailed(
            f"expected a {kind} frame, got {message.data[:200]}", requirement=requirement
        )
    return dict(frame)


async def _open(
    ctx: CaseContext, channels: list[str], name: str, *, params: dict[str, str] | None = None,
    last_event_id: str | None = None, url: str | None = None,
) -> SseStream:  # fmt: skip
    stream = SseStream(
        url or _sse_url(ctx),
        ctx.transcript,
        name,
        ctx.timeout,
        _headers(ctx, last_event_id),
        audited=True,
    )
    # Closed when the case ends, like any client: a failing case must not leak a stream.
    ctx.defer(stream.close)
    ctx.streams.append(stream)  # audited like a client (eventstream.py)
    await stream.open({"channels": ",".join(channels), **(params or {})})
    if stream.status != 200 or not stream.content_type.startswith("text/event-stream"):
        raise CaseFailed(
            f"GET /events answered HTTP {stream.status} {stream.content_type!r}: "
            f"{stream.body[:200]}",
            requirement="SSE-1",
        )
    return stream


async def _welcome(stream: SseStream) -> Frame:
    """The first message: ``event: welcome``, no ``id:`` line [SSE-1]."""
    first = await stream.next()
    if first.event != "welcome":
        raise CaseFailed(
            f"first SSE message is event {first.event!r}, not welcome", requirement="SSE-1"
        )
    if first.id:
        raise CaseFailed(
            f"the welcome message carries id {first.id!r}; it must not", requirement="SSE-1"
        )
    return _frame(first, "welcome", "SSE-1")


async def _events(stream: SseStream, channel: str, count: int, session: str) -> list[Frame]:
    found: list[Frame] = []
    while len(found) < count:
        message = await stream.next()
        frame = _frame(message, "event", "SSE-1")
        if message.event != frame["channel"]:
            raise CaseFailed(
                f"SSE event name {message.event!r} differs from the frame's channel "
                f"{frame['channel']!r}",
                requirement="SSE-1",
            )
        expected_id = f"{session}:{frame['seq']}"
        if message.id != expected_id:
            raise CaseFailed(
                f"SSE id {message.id!r}, expected {expected_id!r}", requirement="SSE-1"
            )
        if frame["channel"] != channel:
            raise CaseFailed(
                f"the stream of {channel!r} delivered an event of {frame['channel']!r}",
                requirement="DELIVERY-2",
            )
        found.append(frame)
    return found


def _marks(frames: list[Frame]) -> list[str]:
    return [str(f["data"].get("mark")) for f in frames]


def _check_seqs(frames: list[Frame], first: int, requirement: str) -> None:
    seqs = [f["seq"] for f in frames]
    if seqs != list(range(first, first + len(frames))):
        raise CaseFailed(
            f"seqs {seqs}, expected {first}..{first + len(frames) - 1}", requirement=requirement
        )


@case(
    id="SSE-STREAM-01",
    requirements=("SSE-1", "DELIVERY-1", "DELIVERY-5", "SSE-7"),
    profile="sse",
    title="GET /events streams welcome (no id), then each event with id session:seq",
)
async def stream_01_routing(ctx: CaseContext) -> None:
    channel, other = ctx.channel("sse"), ctx.channel("sse-other")
    stream = await _open(ctx, [channel], "sse")
    welcome = await _welcome(stream)
    publisher = await ctx.client("publisher")
    # An event on a channel the stream did not ask for must not appear in it [DELIVERY-2].
    await publisher.publish(other, {"mark": "not-for-the-stream"})
    sent = [{"mark": f"m{i}", "body": {"n": i, "text": 'é\n"quoted"'}} for i in range(3)]
    for data in sent:
        await publisher.publish(channel, data)
    got = await _events(stream, channel, 3, welcome["session"])
    if [f["data"] for f in got] != sent:
        raise CaseFailed(
            f"stream delivered {[f['data'] for f in got]}, published {sent}",
            requirement="DELIVERY-5",
        )
    _check_seqs(got, 1, "DELIVERY-1")


async def _resume_case(ctx: CaseContext, *, via_query: bool) -> None:
    channel = ctx.channel("resume")
    stream = await _open(ctx, [channel], "sse-1")
    welcome = await _welcome(stream)
    session = welcome["session"]
    publisher = await ctx.client("publisher")
    for i in (1, 2):
        await publisher.publish(channel, {"mark": f"m{i}"})
    before = await _events(stream, channel, 2, session)
    closed_at = asyncio.get_running_loop().time()
    await stream.close()
    ctx.note("stream 1 closed; publishing m3..m5 while it is away")
    for i in (3, 4, 5):
        await publisher.publish(channel, {"mark": f"m{i}"})
    position = f"{session}:{before[-1]['seq']}"
    if via_query:
        resumed = await _open(ctx, [channel], "sse-2", params={"last_event_id": position})
    else:
        resumed = await _open(ctx, [channel], "sse-2", last_event_id=position)
    expectation = _expectation(ctx, welcome, behind=3, closed_at=closed_at)
    if expectation.expect is not Resume.REQUIRED:
        await _expect_new_session(resumed, session, expectation, "SSE-2")
        if expectation.expect is Resume.REFUSED:
            return
        raise CaseSkipped(f"the resume could legitimately be refused: {expectation.reason}")
    again = await _welcome(resumed)
    if again.get("resumed") is not True or again.get("session") != session:
        raise CaseFailed(
            f"resume from {position} answered resumed={again.get('resumed')!r} "
            f"session={again.get('session')!r}, but RESUME-2 requires resumed=true: "
            f"{expectation.reason}",
            requirement="SSE-2",
        )
    replay = await _events(resumed, channel, 3, session)
    if _marks(replay) != ["m3", "m4", "m5"]:
        raise CaseFailed(
            f"replay delivered {_marks(replay)}, expected m3, m4, m5 once each",
            requirement="RESUME-3",
        )
    _check_seqs(replay, before[-1]["seq"] + 1, "DELIVERY-1")
    await publisher.publish(channel, {"mark": "m6"})
    live = await _events(resumed, channel, 1, session)
    if _marks(live) != ["m6"] or live[0]["seq"] != replay[-1]["seq"] + 1:
        raise CaseFailed(
            f"after the replay got {live}, expected m6 with the next seq", requirement="DELIVERY-1"
        )


@case(
    id="SSE-STREAM-02",
    requirements=("SSE-2", "RESUME-3", "DELIVERY-1", "DELIVERY-6"),
    profile="sse",
    title="reconnect with Last-Event-ID: resumed, missed events once and in order, then live",
)
async def stream_02_resume_header(ctx: CaseContext) -> None:
    await _resume_case(ctx, via_query=False)


@case(
    id="SSE-STREAM-03",
    requirements=("SSE-2", "RESUME-3"),
    profile="sse",
    title="the last_event_id query parameter resumes like the header",
)
async def stream_03_resume_query(ctx: CaseContext) -> None:
    await _resume_case(ctx, via_query=True)


@case(
    id="SSE-STREAM-04",
    requirements=("SSE-3",),
    profile="sse",
    title="unknown channel → 400 unknown_channel; no channels → 400 bad_frame",
)
async def stream_04_errors(ctx: CaseContext) -> None:
    url = _sse_url(ctx)
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        for params, code in (
            ({"channels": f"nowhere-{ctx.run_id}"}, "unknown_channel"),
            ({}, "bad_frame"),
            ({"channels": ""}, "bad_frame"),
        ):
            response = await http.get(url, params=params, headers=_headers(ctx))
            ctx.note(f"GET {response.url} -> {response.status_code} {response.text[:200]}")
            if response.status_code != 400:
                raise CaseFailed(
                    f"GET {response.url} answered {response.status_code}, expected 400"
                )
            try:
                body = response.json()
            except ValueError:
                raise CaseFailed(f"GET {response.url}: the 400 body is not JSON") from None
            if not isinstance(body, dict) or body.get("code") != code:
                raise CaseFailed(f"GET {response.url}: body {body!r}, expected code {code!r}")


@case(
    id="SSE-STREAM-05",
    requirements=("SSE-4",),
    profile="sse",
    title="an idle stream gets a ': ping' comment at least every heartbeat_ms",
    waits=True,
    timeout=300.0,
)
async def stream_05_ping_comments(ctx: CaseContext) -> None:
    channel = ctx.channel("idle")
    stream = await _open(ctx, [channel], "sse")
    welcome = await _welcome(stream)
    interval = welcome["heartbeat_ms"] / 1000.0
    if interval > 120:
        raise CaseSkipped(f"heartbeat_ms {welcome['heartbeat_ms']} is longer than this run waits")
    margin = min(max(1.0, interval * 0.5), ctx.timeout)
    try:
        await stream.wait_comment(interval + margin)
    except TimeoutError:
        raise CaseFailed(
            f"no comment line within {interval + margin:.1f}s on an idle stream"
        ) from None
    text = stream.comments[-1][1]
    if text != "ping":
        raise CaseFailed(f"comment {text!r}, expected ': ping'")


def _expectation(
    ctx: CaseContext, welcome: Frame, *, behind: int, closed_at: float
) -> ResumeExpectation:
    """What RESUME-2 requires of an SSE resume, from the limits of the first stream's welcome."""
    limits = welcome.get("limits")
    expectation = resume_expectation(
        limits if isinstance(limits, dict) else {},
        behind=behind,
        since_drop_s=asyncio.get_running_loop().time() - closed_at,
    )
    ctx.note(f"RESUME-2 for this resume: {expectation}")
    return expectation


async def _session_with_events(ctx: CaseContext, channel: str) -> tuple[str, int, Frame, float]:
    """Open a stream on ``channel``, get one event, close; return (session, last seq, the
    welcome, when it was closed)."""
    stream = await _open(ctx, [channel], "sse-1")
    welcome = await _welcome(stream)
    publisher = await ctx.client("publisher")
    await publisher.publish(channel, {"mark": "first"})
    (event,) = await _events(stream, channel, 1, welcome["session"])
    closed_at = asyncio.get_running_loop().time()
    await stream.close()
    return str(welcome["session"]), int(event["seq"]), welcome, closed_at


async def _expect_new_session(
    stream: SseStream, old: str, why: str | ResumeExpectation, requirement: str
) -> None:
    welcome = await _welcome(stream)
    resumed = welcome.get("resumed") is not False or welcome.get("session") == old
    if isinstance(why, ResumeExpectation):
        if resumed and why.expect is Resume.REFUSED:
            raise CaseFailed(
                f"the resume was granted (resumed={welcome.get('resumed')!r}), but {why.reason}",
                requirement="RESUME-2",
            )
        return
    if resumed:
        raise CaseFailed(
            f"{why}: the server resumed (resumed={welcome.get('resumed')!r}, "
            f"session {'unchanged' if welcome.get('session') == old else 'new'})",
            requirement=requirement,
        )


@case(
    id="SSE-STREAM-06",
    requirements=("SSE-9",),
    profile="sse",
    title="a resume asking for other channels starts a new session",
)
async def stream_06_other_channels(ctx: CaseContext) -> None:
    channel, extra = ctx.channel("first"), ctx.channel("extra")
    session, seq, _, _ = await _session_with_events(ctx, channel)
    stream = await _open(ctx, [channel, extra], "sse-2", last_event_id=f"{session}:{seq}")
    await _expect_new_session(stream, session, "the channel set changed", "SSE-9")


@case(
    id="SSE-STREAM-07",
    requirements=("SSE-10", "RESUME-2"),
    profile="sse",
    title="a WebSocket session cannot be resumed over SSE, nor an SSE session over WebSocket",
)
async def stream_07_no_cross_binding(ctx: CaseContext) -> None:
    channel = ctx.channel("cross")
    ws = await ctx.client("ws")
    await ws.subscribe(channel)
    ws_session = str(ws.session)
    await ws.close()
    stream = await _open(ctx, [channel], "sse", last_event_id=f"{ws_session}:0")
    await _expect_new_session(stream, ws_session, "SSE resumed a WebSocket session", "SSE-10")
    sse_session, seq, _, _ = await _session_with_events(ctx, ctx.channel("cross-sse"))
    client = await ctx.connect("ws-2")
    welcome = await client.hello(
        token=ctx.target.token, resume={"session": sse_session, "seq": seq}
    )
    if welcome.get("resumed") is not False or welcome.get("session") == sse_session:
        raise CaseFailed(
            f"a WebSocket hello resumed the SSE session {sse_session[:6]}…", requirement="SSE-10"
        )


@case(
    id="SSE-STREAM-08",
    requirements=("SSE-5", "SSE-2"),
    profile="sse",
    title="Last-Event-ID wins over last_event_id; a malformed position starts a new session",
)
async def stream_08_precedence(ctx: CaseContext) -> None:
    channel = ctx.channel("precedence")
    session, seq, first, closed_at = await _session_with_events(ctx, channel)
    expectation = _expectation(ctx, first, behind=0, closed_at=closed_at)
    stream = await _open(
        ctx,
        [channel],
        "sse-2",
        params={"last_event_id": "not-a-position"},
        last_event_id=f"{session}:{seq}",
    )
    if expectation.expect is not Resume.REQUIRED:
        # Whichever position the server read, the session may not (or must not) resume:
        # the precedence cannot be seen. The malformed positions still can.
        await _expect_new_session(stream, session, expectation, "SSE-2")
        await stream.close()
        await _malformed_positions_start_new_sessions(ctx, channel, session)
        ctx.note(
            f"Last-Event-ID precedence is not observable: {expectation.reason}; "
            "the malformed positions were checked"
        )
        return
    welcome = await _welcome(stream)
    if welcome.get("resumed") is not True or welcome.get("session") != session:
        raise CaseFailed(
            "with a valid Last-Event-ID header and a bad query parameter the session was not "
            f"resumed (resumed={welcome.get('resumed')!r})",
            requirement="SSE-5",
        )
    await stream.close()
    await _malformed_positions_start_new_sessions(ctx, channel, session)


async def _malformed_positions_start_new_sessions(
    ctx: CaseContext, channel: str, session: str
) -> None:
    for bad in (f"{session}", f"{session}:x", f"{session}:-1"):
        other = await _open(ctx, [channel], "sse-bad", last_event_id=bad)
        await _expect_new_session(other, session, f"Last-Event-ID {bad!r} is malformed", "SSE-5")
        await other.close()


@case(
    id="SSE-STREAM-09",
    requirements=("SSE-6", "DELIVERY-6"),
    profile="sse",
    title="a channel named twice in the query is one subscription: each event arrives once",
)
async def stream_09_duplicate_channels(ctx: CaseContext) -> None:
    channel = ctx.channel("twice")
    stream = await _open(ctx, [channel, channel], "sse")
    welcome = await _welcome(stream)
    publisher = await ctx.client("publisher")
    for mark in ("d1", "d2"):
        await publisher.publish(channel, {"mark": mark})
    got = await _events(stream, channel, 2, welcome["session"])
    if _marks(got) != ["d1", "d2"]:
        raise CaseFailed(f"the stream delivered {_marks(got)}, expected d1, d2 once each")


_HEALTH_ATTEMPTS = 3
"""Open/close cycles tried before HTTP-5 fails: the count is server-wide, and connections other
cases hold may open or close at the same moment; a server that counts right passes one cycle."""


async def _connections(ctx: CaseContext, http: httpx.AsyncClient, url: str) -> int:
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        raise CaseFailed(f"GET {url} got no HTTP answer: {exc!r}", requirement="HTTP-5") from exc
    if response.status_code in (404, 405):
        raise CaseSkipped(f"GET {url} answered {response.status_code}: no health endpoint",
                          applicable=False)  # fmt: skip
    try:
        count = response.json().get("connections")
    except (ValueError, AttributeError):
        count = None
    if response.status_code != 200 or not isinstance(count, int) or isinstance(count, bool):
        raise CaseFailed(
            f"GET {url} answered {response.status_code} {response.text[:200]}: no integer"
            " connections",
            requirement="HTTP-5",
        )
    return count


async def _count_reaches(
    ctx: CaseContext, http: httpx.AsyncClient, url: str, done: Callable[[int], bool]
) -> tuple[bool, int]:
    """Poll ``connections`` until ``done(count)``, for at most ``ctx.timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.timeout
    while True:
        count = await _connections(ctx, http, url)
        if done(count) or loop.time() >= deadline:
            return done(count), count
        await asyncio.sleep(0.05)  # a poll interval, not a synchronisation


@case(
    id="SSE-STREAM-10",
    requirements=("HTTP-5", "SSE-1"),
    profile="sse",
    title="GET /health connections counts an open SSE stream, and stops counting it once closed",
)
async def stream_10_health_counts_streams(ctx: CaseContext) -> None:
    """``connections`` counts open SSE responses [HTTP-5]: it goes up by (at least) one while
    the case's own stream is open and comes back down once the stream is closed. The count is
    server-wide, so the case compares it around its own stream, polls it (bounded), and only
    fails when no cycle of ``_HEALTH_ATTEMPTS`` shows the stream counted and then released."""
    _sse_url(ctx)
    url = health_url(ctx.target.publish_url) if ctx.target.publish_url else None
    if url is None:
        raise CaseSkipped("no --publish-url ending in /publish: /health cannot be located",
                          applicable=False)  # fmt: skip
    channel = ctx.channel("health")
    problem = ""
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        for attempt in range(1, _HEALTH_ATTEMPTS + 1):
            before = await _connections(ctx, http, url)
            stream = await _open(ctx, [channel], f"sse-{attempt}")
            await _welcome(stream)
            counted, during = await _count_reaches(ctx, http, url, partial(operator.lt, before))
            if not counted:
                await stream.close()
                problem = f"connections stayed {during} (was {before}) while an SSE stream was open"
                continue
            await stream.close()
            released, after = await _count_reaches(ctx, http, url, partial(operator.gt, during))
            ctx.note(f"health connections: {before} before, {during} open, {after} closed")
            if released:
                return
            problem = f"connections stayed {after} after the SSE stream counted in {during} closed"
    raise CaseFailed(f"{problem} ({_HEALTH_ATTEMPTS} tries)", requirement="HTTP-5")
