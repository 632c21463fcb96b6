"""Robustness probes: valid JSON that is hostile, and what it must (not) do (transport.md "I-JSON").

Every probe is well-formed JSON that I-JSON forbids [TRANSPORT-17]: an escaped lone surrogate,
a noncharacter, a duplicate name, a number a double cannot hold, nesting deeper than 64. The
spec says exactly what the server does with each: close the sender with 1007 over WebSocket and
legacy sockets [TRANSPORT-18], answer 400 ``bad_frame`` over HTTP publish [HTTP-3]. And no
other session notices anything [SECURITY-4, SECURITY-7]: bystanders subscribed to the same
channel, over WebSocket and over SSE, see no event from the probe, no gap, no close, and can
still resume. Values I-JSON allows (``-0``, a 30-digit decimal, 2**53-1, depth 64) are
delivered as their doubles [TRANSPORT-19]; frame lengths count UTF-8 bytes [TRANSPORT-6].

Every probe stays inside the announced limits: each hostile frame goes on a fresh connection
(one frame, well under ``max_frame_bytes``), and bystanders publish through the paced client.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.eventstream import SseStream
from canaux_conformance.ijson import MAX_DEPTH
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.suites.sse import _events, _open, _welcome
from canaux_conformance.wire import Frame, RawClient

__all__ = [
    "robust_01_lone_surrogates",
    "robust_02_noncharacters",
    "robust_03_duplicate_names",
    "robust_04_numbers",
    "robust_05_nesting",
    "robust_06_accepted_values",
    "robust_07_bytes_not_characters",
    "robust_08_http_publish",
    "robust_09_legacy",
    "robust_10_hello",
]

# Publish ``data`` members as JSON text: valid JSON, not I-JSON [TRANSPORT-18] (1)..(7).
LONE_SURROGATES = {
    "lone high surrogate": '{"mark":"x","t":"\\ud800"}',
    "lone low surrogate": '{"mark":"x","t":"a\\udc00b"}',
    "reversed pair": '{"mark":"x","t":"\\udc00\\ud800"}',
    "lone surrogate in a member name": '{"mark":"x","\\udbff":1}',
}
NONCHARACTERS = {
    "escaped U+FFFF": '{"mark":"x","t":"\\uffff"}',
    "escaped U+FDD0": '{"mark":"x","t":"\\uFDD0"}',
    "raw U+FFFE": '{"mark":"x","t":"\ufffe"}',
    "escaped pair U+10FFFF": '{"mark":"x","t":"\\udbff\\udfff"}',
}
DUPLICATES = {
    "duplicate at the top of data": '{"mark":"x","a":1,"a":2}',
    "duplicate nested": '{"mark":"x","b":[{"c":1,"c":1}]}',
}
NUMBERS = {
    "1e400": '{"mark":"x","n":1e400}',
    "integer 2**53": '{"mark":"x","n":9007199254740992}',
    "integer of 30 digits": '{"mark":"x","n":123456789012345678901234567890}',
    "integer of 5001 digits": '{"mark":"x","n":' + "7" * 5001 + "}",
    "1e-400": '{"mark":"x","n":1e-400}',
}
# The frame is depth 1 and data depth 2: 63 nested arrays inside data reach depth 65.
NESTING = {"depth 65": '{"mark":"x","d":' + "[" * 63 + "]" * 63 + "}"}


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _publish_text(channel: str, data_json: str, frame_id: str = "hostile1") -> str:
    return f'{{"type":"publish","id":"{frame_id}","channel":"{channel}","data":{data_json}}}'


class Bystanders:
    """A WebSocket session and (when the server has SSE) a stream, both on one channel."""

    def __init__(self, ctx: CaseContext, channel: str) -> None:
        self.ctx = ctx
        self.channel = channel
        self.ws: RawClient | None = None
        self.sse: SseStream | None = None
        self.sse_session = ""
        self.marks = 0
        self.last_seq = 0

    async def start(self) -> Bystanders:
        self.ws = await self.ctx.client("bystander")
        await self.ws.subscribe(self.channel)
        self.last_seq = int((self.ws.welcome or {}).get("seq", 0))
        if self.ctx.target.sse_url and self.ctx.server is not None:
            self.sse = await _open(self.ctx, [self.channel], "sse-bystander")
            self.sse_session = str((await _welcome(self.sse))["session"])
        return self

    async def unaffected(self, after: str) -> None:
        """A fresh mark reaches both, as the very next event [SECURITY-4, SECURITY-7]."""
        assert self.ws is not None
        self.marks += 1
        mark = f"after-{self.marks}-{self.ctx.run_id}"
        try:
            # Ids never repeat in a session, across the resume too [OPS-10].
            await self.ws.publish(self.channel, {"mark": mark}, id=f"mark{self.marks}")
            event = await self.ws.expect(
                "event", channel=self.channel, where=lambda f: f["data"].get("mark") == mark
            )
        except CaseFailed as exc:
            raise CaseFailed(
                f"after {after}, another session was affected: {exc.message}",
                requirement="SECURITY-4",
            ) from exc
        leaked = [
            f
            for f in self.ws.unclaimed()
            if f.get("type") == "event" and f.get("channel") == self.channel
        ]
        if leaked:
            raise CaseFailed(
                f"after {after}, a bystander received {json.dumps(leaked[0])[:200]}",
                requirement="TRANSPORT-18",
            )
        self.seen(event, after)
        if self.sse is not None:
            frames = await _events(self.sse, self.channel, 1, self.sse_session)
            if frames[0]["data"].get("mark") != mark:
                raise CaseFailed(
                    f"after {after}, the SSE bystander received {json.dumps(frames[0])[:200]}"
                    f" before the mark {mark!r}",
                    requirement="TRANSPORT-18",
                )

    def seen(self, event: Frame, after: str) -> None:
        """The bystander's next event: its seq follows the last one, no gap [DELIVERY-1]."""
        if event.get("seq") != self.last_seq + 1:
            raise CaseFailed(
                f"after {after}, the bystander's event has seq {event.get('seq')},"
                f" expected {self.last_seq + 1}",
                requirement="DELIVERY-1",
            )
        self.last_seq = int(event["seq"])

    async def resume(self) -> None:
        """The WebSocket bystander's session still resumes after a drop [SECURITY-4]."""
        assert self.ws is not None
        window = self.ws.limits.get("resume_window_ms", 0)
        if not isinstance(window, int) or window < 2000:
            self.ctx.note(f"resume_window_ms {window}: the resume check is left out")
            return
        session, seq = self.ws.session, self.last_seq
        await self.ws.abort()
        again = await self.ctx.client("bystander-again", resume={"session": session, "seq": seq})
        welcome = again.welcome or {}
        if welcome.get("resumed") is not True:
            raise CaseFailed(
                "the bystander's session did not resume after the hostile input"
                f" (resumed={welcome.get('resumed')!r})",
                requirement="RESUME-2",
            )
        self.ws = again


def _fits(bystanders: Bystanders, text: str, what: str) -> bool:
    # Stay inside the announced frame limit: a probe that cannot fit is left out, saying so.
    limit = bystanders.ws.max_frame_bytes if bystanders.ws is not None else None
    if limit is not None and len(text.encode("utf-8", "surrogatepass")) > limit:
        bystanders.ctx.note(f"{what}: left out, {len(text)} bytes > max_frame_bytes {limit}")
        return False
    return True


async def _refused_on_ws(ctx: CaseContext, probes: dict[str, str], *, subscribe: bool) -> None:
    channel = ctx.channel("hostile")
    bystanders = await Bystanders(ctx, channel).start()
    for n, (what, data_json) in enumerate(probes.items(), 1):
        text = _publish_text(channel, data_json)
        if not _fits(bystanders, text, what):
            continue
        sender = await ctx.client(f"sender{n}")
        if subscribe:
            await sender.subscribe(channel)
        ctx.note(f"probe: {what}")
        await sender.send_text(text)
        code = await sender.expect_close(requirement="TRANSPORT-18")
        answers = [f for f in sender.unclaimed() if f.get("type") in ("ack", "error", "event")]
        if code != 1007:
            raise CaseFailed(
                f"a publish whose data holds {what} was answered "
                f"{[f.get('type') for f in answers]} and closed with {code}, expected 1007",
                requirement="TRANSPORT-18",
            )
        if answers:
            raise CaseFailed(
                f"a publish whose data holds {what} was answered {answers[0].get('type')} "
                "before the 1007 close",
                requirement="TRANSPORT-18",
            )
        await bystanders.unaffected(what)
    await bystanders.resume()
    await bystanders.unaffected("the resume")


@case(
    id="ROBUST-01",
    requirements=("TRANSPORT-18", "TRANSPORT-17", "TRANSPORT-20", "SECURITY-7", "SECURITY-4"),
    title="an escaped lone surrogate in data closes the sender with 1007; no one else notices",
)
async def robust_01_lone_surrogates(ctx: CaseContext) -> None:
    await _refused_on_ws(ctx, LONE_SURROGATES, subscribe=True)


@case(
    id="ROBUST-02",
    requirements=("TRANSPORT-18", "TRANSPORT-20", "SECURITY-7"),
    title="a Unicode noncharacter, raw or escaped, closes the sender with 1007",
)
async def robust_02_noncharacters(ctx: CaseContext) -> None:
    await _refused_on_ws(ctx, NONCHARACTERS, subscribe=False)


@case(
    id="ROBUST-03",
    requirements=("TRANSPORT-12", "TRANSPORT-18", "SECURITY-7"),
    title="an object with a duplicate member name closes the sender with 1007",
)
async def robust_03_duplicate_names(ctx: CaseContext) -> None:
    await _refused_on_ws(ctx, DUPLICATES, subscribe=True)


@case(
    id="ROBUST-04",
    requirements=("TRANSPORT-18", "TRANSPORT-20", "SECURITY-7"),
    title="1e400, integers beyond 2**53-1 and 1e-400 close the sender with 1007",
)
async def robust_04_numbers(ctx: CaseContext) -> None:
    await _refused_on_ws(ctx, NUMBERS, subscribe=True)


@case(
    id="ROBUST-05",
    requirements=("TRANSPORT-18", "TRANSPORT-20", "SECURITY-7"),
    title="nesting deeper than 64 closes the sender with 1007; depth 64 is delivered",
)
async def robust_05_nesting(ctx: CaseContext) -> None:
    await _refused_on_ws(ctx, NESTING, subscribe=True)


# Values I-JSON allows, and what a subscriber must receive [TRANSPORT-19].
ACCEPTED: dict[str, tuple[str, Any]] = {
    "-0": ('{"n":-0}', {"n": 0}),
    "-0.0": ('{"n":-0.0}', {"n": 0}),
    "a 30-digit decimal": ('{"n":0.123456789012345678901234567890}', {"n": 0.12345678901234568}),
    "2**53-1": ('{"n":9007199254740991}', {"n": 9007199254740991}),
    "-(2**53-1)": ('{"n":-9007199254740991}', {"n": -9007199254740991}),
    # A zero sends a reader to its exact path (it may have been 1e-400): the bound holds there.
    "2**53-1 beside a zero": ('{"n":9007199254740991,"z":0.0}', {"n": 9007199254740991, "z": 0}),
    "-(2**53-1) beside a zero": (
        '{"n":-9007199254740991,"z":0.0}',
        {"n": -9007199254740991, "z": 0},
    ),
    "1e300": ('{"n":1e300}', {"n": 1e300}),
    "a valid surrogate pair and U+FFFD": (
        '{"t":"\\ud83c\\udfb5\\ufffd"}',
        {"t": "\U0001f3b5\ufffd"},
    ),
    "depth 64": (
        '{"d":' + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "}",
        {"d": json.loads("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2))},
    ),
    # The exact path counts depth too: a frame at depth 64 that holds a zero is still legal.
    "depth 64 beside a zero": (
        '{"d":' + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + ',"z":0.0}',
        {"d": json.loads("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)), "z": 0},
    ),
}


def _reply_to(frame_id: str) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id


def _marked(mark: str) -> Callable[[Frame], bool]:
    return lambda f: isinstance(f.get("data"), dict) and f["data"].get("mark") == mark


@case(
    id="ROBUST-06",
    requirements=("TRANSPORT-19", "CONF-1", "DELIVERY-5"),
    title="-0, long decimals, 2**53-1, valid pairs and depth 64 are delivered as their doubles",
)
async def robust_06_accepted_values(ctx: CaseContext) -> None:
    channel = ctx.channel("ijson")
    client = await ctx.client("A")
    await client.subscribe(channel)
    for n, (what, (data_json, expected)) in enumerate(ACCEPTED.items(), 1):
        mark = f"ok{n}-{ctx.run_id}"
        data_json = data_json.replace("{", f'{{"mark":"{mark}",', 1)
        await client.send_text(_publish_text(channel, data_json, frame_id=f"ok{n}"))
        reply = await client.expect(
            where=_reply_to(f"ok{n}"),
            requirement="TRANSPORT-19",
            what=f"the reply to a publish of {what}",
        )
        if reply["type"] != "ack":
            raise CaseFailed(
                f"a publish of {what} was refused ({reply.get('code')}); I-JSON allows it",
                requirement="TRANSPORT-19",
            )
        event = await client.expect("event", channel=channel, where=_marked(mark))
        got = {k: v for k, v in event["data"].items() if k != "mark"}
        if got != expected:
            raise CaseFailed(
                f"a publish of {what} was delivered as {json.dumps(got)[:200]},"
                f" expected {json.dumps(expected)[:200]}",
                requirement="TRANSPORT-19",
            )


@case(
    id="ROBUST-07",
    requirements=("TRANSPORT-6", "LIMIT-2", "SECURITY-4"),
    title="frame length counts UTF-8 bytes: multi-byte frames at the limit pass, 1 over is 1009",
)
async def robust_07_bytes_not_characters(ctx: CaseContext) -> None:
    channel = ctx.channel("bytes")
    bystanders = await Bystanders(ctx, channel).start()
    for char in ("é", "€", "🎵"):
        size = len(char.encode())
        client = await ctx.client(f"sender-{size}")
        limit = client.max_frame_bytes
        if limit is None:
            raise CaseSkipped("the welcome announced no max_frame_bytes")
        envelope = len(_publish_text(channel, '{"mark":"m","t":""}', "fits").encode())
        fill = (limit - envelope) // size
        fits = _publish_text(channel, _compact({"mark": "m", "t": char * fill}), "fits")
        over = _publish_text(channel, _compact({"mark": "m", "t": char * (fill + 1)}), "over")
        if not len(fits.encode()) <= limit < len(over.encode()) or len(over) > limit:
            raise CaseSkipped(f"cannot build the {size}-byte probes under max_frame_bytes {limit}")
        ctx.note(
            f"{len(fits.encode())}-byte frame of {size}-byte characters, then "
            f"{len(over.encode())} bytes ({len(over)} characters), limit {limit}"
        )
        await client.send_text(fits)
        reply = await client.expect(
            where=lambda f: f.get("type") in ("ack", "error") and f.get("id") == "fits",
            requirement="LIMIT-1",
            what="the reply to a frame at the limit",
        )
        if reply["type"] != "ack":
            raise CaseFailed(
                f"a {len(fits.encode())}-byte frame (limit {limit}) was refused: {reply}",
                requirement="LIMIT-1",
            )
        await client.send_text(over, beyond_limits=True)
        code = await client.expect_close(requirement="TRANSPORT-6")
        if code != 1009:
            raise CaseFailed(
                f"a frame of {len(over.encode())} bytes but {len(over)} characters (limit"
                f" {limit}) got {code}, expected 1009: the length is counted in characters",
                requirement="TRANSPORT-6",
            )
        # The accepted frame is an event for the bystanders; read it before the next mark.
        assert bystanders.ws is not None
        accepted = await bystanders.ws.expect(
            "event", channel=channel, where=lambda f: f["data"].get("mark") == "m"
        )
        bystanders.seen(accepted, "a frame at the limit")
        if bystanders.sse is not None:
            await _events(bystanders.sse, channel, 1, bystanders.sse_session)
        await bystanders.unaffected(f"a {len(over.encode())}-byte frame")


@case(
    id="ROBUST-08",
    requirements=("HTTP-3", "TRANSPORT-18", "SECURITY-7"),
    title="POST /publish with a body that is not I-JSON is 400 bad_frame; no subscriber notices",
)
async def robust_08_http_publish(ctx: CaseContext) -> None:
    if not ctx.target.publish_url:
        raise CaseSkipped("no --publish-url: HTTP publish is not probed")
    channel = ctx.channel("http")
    bystanders = await Bystanders(ctx, channel).start()
    headers = {"Content-Type": "application/json"}
    if ctx.target.publish_token:
        headers["Authorization"] = f"Bearer {ctx.target.publish_token}"
    probes = {**LONE_SURROGATES, **NONCHARACTERS, **DUPLICATES, **NUMBERS, **NESTING}
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        for what, data_json in probes.items():
            text = f'{{"channel":"{channel}","data":{data_json}}}'
            if not _fits(bystanders, text, what):
                continue
            body = text.encode("utf-8", "surrogatepass")
            response = await http.post(ctx.target.publish_url, content=body, headers=headers)
            ctx.note(f"POST {what} -> {response.status_code} {response.text[:200]}")
            code = _body_code(response)
            if response.status_code != 400 or code != "bad_frame":
                raise CaseFailed(
                    f"POST /publish with data holding {what} answered {response.status_code}"
                    f" {code!r}, expected 400 bad_frame",
                    requirement="HTTP-3",
                )
            await bystanders.unaffected(f"an HTTP publish of {what}")


def _body_code(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


@case(
    id="ROBUST-09",
    requirements=("LEGACY-5", "TRANSPORT-18", "SECURITY-7"),
    profile="legacy",
    title="a legacy frame that is not I-JSON closes that socket with 1007; no one else notices",
)
async def robust_09_legacy(ctx: CaseContext) -> None:
    url = ctx.target.legacy_chat_url
    if not url:
        raise CaseSkipped("no legacy /ws/chat endpoint on this server")
    channel = ctx.channel("legacy")
    bystanders = await Bystanders(ctx, channel).start()
    probes = {
        "a lone surrogate": '{"message":"\\ud800"}',
        "a duplicate name": '{"message":"a","message":"b"}',
        "a noncharacter": '{"message":"\\ufffe"}',
        "an integer beyond 2**53-1": '{"message":"hi","n":9007199254740993}',
    }
    for n, (what, text) in enumerate(probes.items(), 1):
        legacy = await ctx.connect(f"legacy{n}", url=url, subprotocols=None, legacy=True)
        await legacy.send_text(text)
        code = await legacy.expect_close(requirement="LEGACY-5")
        if code != 1007:
            raise CaseFailed(
                f"a legacy frame holding {what} got close {code}, expected 1007",
                requirement="LEGACY-5",
            )
        await bystanders.unaffected(f"a legacy frame holding {what}")


@case(
    id="ROBUST-10",
    requirements=("TRANSPORT-22", "HANDSHAKE-18", "TRANSPORT-10", "HANDSHAKE-5"),
    title="hello: 2**53+1 is not I-JSON (1007), 1e300 is a bad hello (4400), 2**53-1 is 4406",
)
async def robust_10_hello(ctx: CaseContext) -> None:
    token = ctx.hello_frame().get("token")
    extra = f',"token":{json.dumps(token)}' if token is not None else ""

    def hello(version: str, more: str = "") -> str:
        return f'{{"type":"hello","version":{version}{more}{extra}}}'

    probes = [
        ("version 9007199254740993", hello("9007199254740993"), 1007, "TRANSPORT-18"),
        ("version 1e300", hello("1e300"), 4400, "TRANSPORT-10"),
        ("version 9007199254740991", hello("9007199254740991"), 4406, "HANDSHAKE-5"),
        ("a ping with a lone surrogate", '{"type":"ping","nonce":"\\udc00"}', 1007, "TRANSPORT-22"),
        ("a hello with a duplicate name", hello("1", ',"version":1'), 1007, "TRANSPORT-12"),
    ]
    for n, (what, text, expected, requirement) in enumerate(probes, 1):
        client = await ctx.connect(f"first{n}")
        await client.send_text(text)
        code = await client.expect_close(requirement=requirement)
        if code != expected:
            raise CaseFailed(
                f"a first frame with {what} got close {code}, expected {expected}",
                requirement=requirement,
            )
