"""Envelope cases: every client vector of ``canaux_schemas.vectors()`` sent to the server
(transport.md to operations.md).

Each vector (``schemas/vectors/*.json``, described by ``schemas/vector.json``) becomes one case
``ENV-<NAME>``: the input is sent exactly as the vector says (frame, raw text, binary or an
oversize frame), at the stage it names, and the server's answer must be the vector's
``expect``: a close code, an ``error`` frame (code, pointer, id) on a connection that stays
open, or an acceptance. Meanwhile a second client, subscribed to a conformance channel, must
keep working: no input to one session may affect another [CHANNEL-7].

Vectors written for the standard catalogue are skipped when the server does not offer the
channels they use; vectors written for the standard limits are adapted to the advertised
limits (an oversize frame is sized from ``max_frame_bytes``, the subscription flood from
``max_subscriptions``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from websockets.exceptions import ConnectionClosed

import canaux_schemas
from canaux_conformance.cases import LEVELS, CaseContext, Level, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.results import requirement_index
from canaux_conformance.wire import Frame, RawClient, catalogue_entry, encode

__all__ = ["ENVELOPE_CASES", "client_vectors", "oversize_text", "run_vector", "vector_level"]

HELLO_ALLOWANCE = 8192
"""Bytes a first frame may always have, whatever ``max_frame_bytes`` says [HANDSHAKE-10]."""

STANDARD_LIMITS = {
    "max_frame_bytes": 65536,
    "max_subscriptions": 64,
    "max_rate": 200,
    "resume_window_ms": 120000,
    "resume_buffer": 1024,
}
_STANDARD_CHANNELS = ("chat", "playqueue", "system", "progress")


def client_vectors() -> list[dict[str, Any]]:
    """Every vector whose input a client sends (so a server must handle it), in file order."""
    found: list[dict[str, Any]] = []
    for document in canaux_schemas.vectors():
        for vector in document.get("vectors", []):
            if vector.get("sender") == "client" and "expect" in vector:
                found.append(vector)
    return found


def oversize_text(size: int) -> str:
    """The oversize template ``{"type":"ping","pad":"x…"}`` padded to exactly ``size`` bytes."""
    empty = encode({"type": "ping", "pad": ""})
    if size < len(empty):
        raise ValueError(f"cannot build a {size}-byte frame")
    return encode({"type": "ping", "pad": "x" * (size - len(empty))})


def _channels_used(vector: Mapping[str, Any]) -> list[str]:
    frames = [vector.get("frame"), *vector.get("setup", [])]
    return [
        f["channel"] for f in frames if isinstance(f, dict) and isinstance(f.get("channel"), str)
    ]


def _channel_agnostic(vector: Mapping[str, Any]) -> bool:
    """True when the vector's point does not depend on which channel it names: every frame
    naming one is a subscribe or unsubscribe, and the expected answer is not about the channel
    (not ``unknown_channel`` / ``forbidden``). Such a vector checks a core requirement (OPS-3,
    OPS-4, OPS-9, TRANSPORT-7...) whatever channel carries it."""
    frames = [vector.get("frame"), *vector.get("setup", [])]
    named = [f for f in frames if isinstance(f, dict) and isinstance(f.get("channel"), str)]
    return (
        bool(named)
        and vector.get("stage") == "after_hello"
        and all(f.get("type") in ("subscribe", "unsubscribe") for f in named)
        and vector.get("expect", {}).get("error") not in ("unknown_channel", "forbidden")
    )


def _standard_names(vector: Mapping[str, Any]) -> bool:
    return any(channel in _STANDARD_CHANNELS for channel in _channels_used(vector))


def _on_offered_channels(ctx: CaseContext, vector: Mapping[str, Any]) -> Mapping[str, Any]:
    """The vector, its standard channels replaced by ``conformance.*`` names when the server's
    catalogue does not cover them and the vector is channel-agnostic, so that a core-only
    server keeps these core checks; otherwise the vector as it is."""
    server = ctx.server
    if server is None or not _channel_agnostic(vector) or not _standard_names(vector):
        return vector
    if vector.get("expect", {}).get("error") == "bad_frame":
        return vector  # refused for its form before any channel is looked up [OPS-8]
    names: dict[str, str] = {}

    def offered(frame: Any) -> Any:
        if not isinstance(frame, dict) or not isinstance(frame.get("channel"), str):
            return frame
        channel = frame["channel"]
        if channel not in _STANDARD_CHANNELS or catalogue_entry(server.catalogue, channel):
            return frame
        if channel not in names:
            names[channel] = ctx.channel("vec")
            ctx.note(f"{channel!r} is not offered: the vector uses {names[channel]!r} instead")
        return {**frame, "channel": names[channel]}

    return {
        **vector,
        "frame": offered(vector.get("frame")),
        "setup": [offered(f) for f in vector.get("setup", [])],
    }


def _profile(vector: Mapping[str, Any]) -> str:
    if vector.get("stage") == "legacy":
        return "legacy"
    # A close (e.g. a subscribe before hello, HANDSHAKE-4) says nothing about the channel named.
    if _channel_agnostic(vector) or "close" in vector.get("expect", {}):
        return "core"
    for channel in _channels_used(vector):
        root = channel.split(".", 1)[0]
        if root in _STANDARD_CHANNELS and vector.get("expect", {}).get("error") not in (
            "unknown_channel",
            "bad_frame",
        ):
            return root
    return "core"


def _case_id(vector: Mapping[str, Any]) -> str:
    return "ENV-" + re.sub(r"[^A-Z0-9]+", "-", str(vector["name"]).upper()).strip("-")


def _requires_catalogue(ctx: CaseContext, vector: Mapping[str, Any]) -> None:
    """Skip a vector about the standard catalogue when this server's catalogue differs."""
    if vector.get("catalogue") != "standard" or ctx.server is None:
        return
    expect = vector.get("expect", {})
    for channel in _channels_used(vector):
        if expect.get("error") in ("unknown_channel", "bad_frame") and channel == (
            vector.get("frame") or {}
        ).get("channel"):
            # The vector is about this very name being refused: check the server agrees.
            continue
        entry = catalogue_entry(ctx.server.catalogue, channel)
        if entry is None:
            raise CaseSkipped(
                f"the server's catalogue does not cover {channel!r}", applicable=False
            )
    if expect.get("error") == "unknown_channel":
        channel = str((vector.get("frame") or {}).get("channel"))
        if catalogue_entry(ctx.server.catalogue, channel) is not None:
            raise CaseSkipped(f"this server's catalogue does cover {channel!r}", applicable=False)


def _input(ctx: CaseContext, vector: Mapping[str, Any]) -> tuple[str | bytes, list[Frame]]:
    """The input to send, and the setup frames, adapted to the server's limits."""
    setup = [dict(frame) for frame in vector.get("setup", [])]
    limits = dict(ctx.server.limits) if ctx.server else STANDARD_LIMITS
    if "oversize_bytes" in vector:
        size = int(vector["oversize_bytes"])
        if vector.get("limits") == "standard":
            size += limits.get("max_frame_bytes", 65536) - STANDARD_LIMITS["max_frame_bytes"]
            if vector.get("stage") == "before_hello" and "close" in vector.get("expect", {}):
                # [HANDSHAKE-10] a first frame may be as long as the larger of 8192 bytes and
                # max_frame_bytes: only a frame over both is oversize whatever its type.
                allowance = max(HELLO_ALLOWANCE, int(limits.get("max_frame_bytes", 65536)))
                size = max(size, allowance + 1)
        return oversize_text(size), setup
    if (
        vector.get("limits") == "standard"
        and vector.get("expect", {}).get("error") == "too_many_subscriptions"
    ):
        allowed = int(limits.get("max_subscriptions", 64))
        if allowed > 2048:
            raise CaseSkipped(f"max_subscriptions is {allowed}: too many to fill")
        setup = [
            {"type": "subscribe", "id": f"s{i}", "channel": f"{ctx.channel('sub')}"}
            for i in range(1, allowed + 1)
        ]
    if "binary_base64" in vector:
        return base64.b64decode(vector["binary_base64"]), setup
    if "text" in vector:
        return str(vector["text"]), setup
    return encode_value(_with_token(ctx, vector)), setup


def _with_token(ctx: CaseContext, vector: Mapping[str, Any]) -> Any:
    """The vector's frame; a ``hello`` carries the run's ``--token`` when one is given.

    A server that authenticates refuses a hello without an accepted token (``4401``), which is
    not what the vector is about. A vector whose token is itself the input (empty, not a
    string, too long) keeps it: the hello is refused before its credentials are looked at
    [HANDSHAKE-18]. A vector that needs a well-formed token accepted gets ours instead, unless
    the token's length is its point (HANDSHAKE-10, the size allowance of a hello): only the
    given token is accepted, and it has the length it has.
    """
    frame = vector["frame"]
    token = ctx.target.token
    if token is None or not isinstance(frame, dict) or frame.get("type") != "hello":
        return frame
    if "token" not in frame:
        return {**frame, "token": token}
    if "reply" not in vector.get("expect", {}):
        return frame
    theirs = frame["token"]
    if "HANDSHAKE-10" in vector.get("requirements", ()) and len(str(theirs)) > len(token):
        raise CaseSkipped(
            f"the vector needs a {len(str(theirs))}-character token accepted; the server "
            "authenticates (--token given) and accepts only the token given"
        )
    return {**frame, "token": token}


def _requires_frame_fits(
    ctx: CaseContext, vector: Mapping[str, Any], sent: str | bytes, *, oversize: bool
) -> None:
    """Skip a vector whose input cannot fit the announced ``max_frame_bytes`` [LIMIT-7].

    Written for the standard limits, a vector may need a bigger frame than a server announces
    (a 16,000-character chat text does not fit in 4096 bytes): sending it would only test the
    size limit, which the LIM and oversize cases already do.
    """
    if oversize or isinstance(sent, bytes) or ctx.server is None:
        return
    limit = ctx.server.limit("max_frame_bytes", STANDARD_LIMITS["max_frame_bytes"])
    if vector.get("stage") == "before_hello":
        limit = max(limit, HELLO_ALLOWANCE)
    size = len(sent.encode())
    if size > limit:
        raise CaseSkipped(
            f"the vector's frame has {size} bytes; this server announced max_frame_bytes {limit}",
            applicable=False,
        )


def _requires_reply_memory(ctx: CaseContext, vector: Mapping[str, Any]) -> None:
    """Skip a vector that re-sends an id (OPS-9) when the server need not remember it.

    OPS-9 obliges a server to remember the replies of the frames received in the last
    ``resume_window_ms``, up to ``resume_buffer`` of them: with a window under a second the
    setup frame may already be forgotten, and applying the repeat again is then legal.
    """
    if "OPS-9" not in vector.get("requirements", ()) or ctx.server is None:
        return
    window = ctx.server.limit("resume_window_ms", STANDARD_LIMITS["resume_window_ms"])
    if window < 1000:
        raise CaseSkipped(
            f"resume_window_ms is {window}: OPS-9 does not oblige the server to remember the "
            "setup frame's reply by the time it is repeated",
            applicable=False,
        )


def encode_value(value: Any) -> str:
    """Compact JSON of any value (vector frames may be arrays, strings, numbers, null)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def _observer(ctx: CaseContext) -> tuple[RawClient, str] | None:
    """A second session on a conformance channel, or ``None`` when the family is off."""
    try:
        channel = ctx.channel("observer")
    except CaseSkipped:
        ctx.note("no conformance.* family: the bystander check is left out")
        return None
    observer = await ctx.client("observer")
    await observer.subscribe(channel)
    return observer, channel


async def _observer_still_served(ctx: CaseContext, watch: tuple[RawClient, str] | None) -> None:
    """[CHANNEL-7] the other session still publishes and receives as before."""
    if watch is None:
        return
    observer, channel = watch
    mark = f"still-{ctx.run_id}"
    try:
        await observer.publish(channel, {"mark": mark})
        await observer.expect(
            "event", channel=channel, where=lambda f: f["data"].get("mark") == mark
        )
    except CaseFailed as exc:
        raise CaseFailed(
            f"another session stopped working after the vector: {exc.message}",
            requirement="CHANNEL-7",
        ) from exc


async def _check_error(client: RawClient, vector: Mapping[str, Any], sent: str | bytes) -> None:
    expect = vector["expect"]
    requirement = vector["requirements"][0]
    frame = vector.get("frame")
    frame_id = frame.get("id") if isinstance(frame, dict) else None

    def answers(f: Frame) -> bool:
        if f.get("type") == "error":
            return "id" not in expect or f.get("id") == expect["id"] or f.get("id") == frame_id
        return f.get("type") == "ack" and frame_id is not None and f.get("id") == frame_id

    reply = await client.expect(
        where=answers, requirement=requirement, what=f"error {expect['error']!r}"
    )
    if reply["type"] != "error":
        raise CaseFailed(f"accepted ({encode(reply)}); expected error {expect['error']!r}")
    if reply.get("code") != expect["error"]:
        raise CaseFailed(f"error code {reply.get('code')!r}, expected {expect['error']!r}")
    if "pointer" in expect and reply.get("pointer") != expect["pointer"]:
        raise CaseFailed(
            f"error pointer {reply.get('pointer')!r}, expected {expect['pointer']!r}",
            requirement="OPS-8" if expect["error"] == "bad_frame" else requirement,
        )
    if "id" in expect and reply.get("id") != expect["id"]:
        raise CaseFailed(
            f"error id {reply.get('id')!r}, expected {expect['id']!r}", requirement="OPS-1"
        )
    # The connection stays open after an error [OPS-8, CHANNEL-7]: a ping still gets its pong.
    await client.ping("after-error")


async def _check_close(client: RawClient, vector: Mapping[str, Any]) -> None:
    expect = vector["expect"]
    requirement = vector["requirements"][0]
    code = await client.expect_close(requirement=requirement)
    if code != expect["close"]:
        raise CaseFailed(f"closed with {code}, expected {expect['close']}")
    needle = expect.get("reason_contains")
    if needle and needle not in (client.close_reason or ""):
        raise CaseFailed(f"close reason {client.close_reason!r} lacks {needle!r}")


async def _check_accept(client: RawClient, vector: Mapping[str, Any], sent: str | bytes) -> None:
    reply = vector["expect"]["reply"]
    requirement = vector["requirements"][0]
    frame = vector.get("frame")
    if reply == "welcome":
        first = await client.next_frame(requirement=requirement)
        if first.get("type") != "welcome":
            raise CaseFailed(f"first frame after hello is {encode(first)}, expected welcome")
        # A vector's session id was never issued by this server: nothing to resume.
        resumes = isinstance(frame, dict) and isinstance(frame.get("resume"), dict)
        if resumes and first.get("resumed") is not False:
            raise CaseFailed(
                f"a resume of a session the server never issued answered {encode(first)}, "
                "not resumed: false",
                requirement="RESUME-2",
            )
        return
    if reply == "ack":
        frame_id = frame.get("id") if isinstance(frame, dict) else None
        got = await client.expect(
            where=lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id,
            requirement="OPS-1",
            what=f"ack for {frame_id!r}",
        )
        if got["type"] != "ack":
            raise CaseFailed(f"refused with {encode(got)}; expected ack")
        return
    if reply == "pong":
        got = await client.expect(
            where=lambda f: f.get("type") in ("pong", "error"),
            requirement=requirement,
            what="pong",
        )
        if got["type"] != "pong":
            raise CaseFailed(f"answered {encode(got)}; expected pong")
        return
    # "none": nothing is owed; a ping afterwards proves the input was taken without complaint.
    await client.ping("after-input")
    errors = [f for f in client.unclaimed() if f.get("type") == "error"]
    if errors:
        raise CaseFailed(f"answered {encode(errors[0])}; nothing was owed")


async def _run_legacy(ctx: CaseContext, vector: Mapping[str, Any], sent: str | bytes) -> None:
    endpoint = vector.get("endpoint")
    url = ctx.target.legacy_chat_url if endpoint == "/ws/chat" else ctx.target.legacy_system_url
    if not url:
        raise CaseSkipped(f"no legacy endpoint {endpoint} on this server")
    frame = vector.get("frame")
    if (
        endpoint == "/ws/chat"
        and isinstance(frame, dict)
        and frame
        and frame.get("type") != "ping"
        and ctx.server is not None
        and not ctx.server.offers("chat")
    ):
        # [LEGACY-1] /ws/chat carries the chat channel: without one, a message has no meaning.
        raise CaseSkipped(
            "the server's catalogue has no 'chat' channel for /ws/chat to carry", applicable=False
        )
    client = await ctx.connect("legacy", url=url, subprotocols=None, legacy=True)
    await (client.send_bytes(sent) if isinstance(sent, bytes) else client.send_text(sent))
    expect = vector["expect"]
    requirement = vector["requirements"][0]
    if "close" in expect:
        await _check_close(client, vector)
        return
    if "legacy_error" in expect:
        got = await client.expect(
            where=lambda f: f.get("channel") == "system",
            requirement="LEGACY-3",
            what="system error event",
        )
        data = got.get("data") or {}
        if data.get("level") != "error" or data.get("code") != expect["legacy_error"]:
            raise CaseFailed(
                f"got {encode(got)}; expected a system error with code {expect['legacy_error']!r}",
                requirement="LEGACY-3",
            )
        await _legacy_still_open(client)
        return
    if expect.get("reply") == "pong":
        got = await client.next_frame(requirement=requirement)
        if got != {"type": "pong"}:
            raise CaseFailed(f'answered {encode(got)}; expected {{"type": "pong"}}')
        return
    got = await client.next_frame(requirement=requirement)
    if got.get("channel") != "chat":
        raise CaseFailed(f"expected chat reply events, got {encode(got)}", requirement="LEGACY-1")


async def _legacy_still_open(client: RawClient) -> None:
    """[LEGACY-3] the connection stays open after a legacy error: a ping still gets its pong."""
    await client.send({"type": "ping"})
    await client.expect("pong", requirement="LEGACY-3", what="pong after the error")


async def run_vector(ctx: CaseContext, vector: Mapping[str, Any]) -> None:
    """Send one vector's input as it says and check the server's answer against ``expect``."""
    vector = _on_offered_channels(ctx, vector)
    _requires_catalogue(ctx, vector)
    _requires_reply_memory(ctx, vector)
    sent, setup = _input(ctx, vector)
    # An input that breaks the size limit on purpose is sent as it is; any other must fit.
    oversize = "oversize_bytes" in vector and "close" in vector.get("expect", {})
    _requires_frame_fits(ctx, vector, sent, oversize=oversize)
    ctx.note(f"vector {vector['name']}: {vector.get('description', '')}")
    if vector.get("stage") == "legacy":
        await _run_legacy(ctx, vector, sent)
        return
    watch = await _observer(ctx)
    client = await ctx.connect("A")
    if vector.get("stage") == "after_hello":
        await client.hello(token=ctx.target.token)
        for frame in setup:
            reply = await client.request(frame)
            if reply["type"] != "ack":
                raise CaseFailed(
                    f"setup frame {encode(frame)} refused: {encode(reply)}", requirement="OPS-1"
                )
    expect = vector["expect"]
    try:
        if isinstance(sent, bytes):
            await client.send_bytes(sent)
        else:
            await client.send_text(sent, beyond_limits=oversize)
    except ConnectionClosed:
        # The server may close while a large frame is still being written (1009 as soon as
        # the size is known): that close is its answer, read below.
        if "close" not in expect:
            raise
    if "close" in expect:
        await _check_close(client, vector)
    elif "error" in expect:
        await _check_error(client, vector, sent)
    else:
        await _check_accept(client, vector, sent)
    await _observer_still_served(ctx, watch)


def vector_level(requirements: Sequence[str]) -> Level:
    """The strongest level the spec gives any of ``requirements`` (MUST > SHOULD > MAY).

    An ID missing from the requirement index counts as MUST: a vector citing a requirement the
    index does not know is not thereby weakened into a non-strict case.
    """
    index = requirement_index()
    levels: list[Level] = []
    for requirement in requirements:
        level = index.get(requirement, {}).get("level", "MUST")
        levels.append(level if level in LEVELS else "MUST")
    return min(levels, key=LEVELS.index, default="MUST")


def _register(vector: dict[str, Any]) -> str:
    case_id = _case_id(vector)
    requirements = tuple(dict.fromkeys([*vector["requirements"], "CHANNEL-7"]))
    if vector.get("stage") == "legacy":
        requirements = tuple(vector["requirements"])

    async def vector_case(ctx: CaseContext) -> None:
        await run_vector(ctx, vector)

    vector_case.__doc__ = str(vector.get("description", ""))
    vector_case.__qualname__ = vector_case.__name__ = f"vector_{vector['name'].replace('-', '_')}"
    title = str(vector.get("description", vector["name"])).rstrip(".")
    case(
        id=case_id,
        requirements=requirements,
        level=vector_level(vector["requirements"]),
        profile=_profile(vector),
        title=title,
    )(vector_case)
    return case_id


ENVELOPE_CASES: list[str] = [_register(v) for v in client_vectors()]
"""IDs of the cases made from the vectors, one per vector."""
