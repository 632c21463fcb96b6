"""Handshake cases: subprotocol, hello/welcome, version, hello timeout, session ids, many
handshakes (transport.md, handshake.md).

Session ids are also a security matter (security.md SECURITY-1), and so is the admission of
many connections at once (security.md SECURITY-12).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from itertools import combinations

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import SUBPROTOCOL, HandshakeRefused, RawClient, encode

__all__ = [
    "hs_01_subprotocol_selected",
    "hs_02_subprotocol_missing",
    "hs_03_welcome_contents",
    "hs_04_pipelined_hello",
    "hs_05_version_unsupported",
    "hs_06_hello_timeout",
    "hs_07_first_frame_not_hello",
    "hs_08_second_hello",
    "hs_09_session_ids",
    "hs_10_catalogue",
    "hs_11_long_token",
    "hs_12_check_order",
    "hs_13_hellos_at_once",
    "hs_14_finished_handshakes_stop_counting",
]

LIMIT_NAMES = (
    "max_frame_bytes",
    "max_subscriptions",
    "max_rate",
    "resume_window_ms",
    "resume_buffer",
)
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
HELLO_TIMEOUT_SHOULD_MAX = 10.0
"""[HANDSHAKE-12] the hello timeout SHOULD be at most 10 s (and is at least 1 s, HANDSHAKE-3)."""
HELLO_TIMEOUT_TOLERANCE = 1.0
"""Seconds past 10 s still taken for a 10 s timeout: the close travels and is read late."""
HELLO_TIMEOUT_PATIENCE = 60.0
"""How much longer HS-06 waits for a server whose hello timeout exceeds the SHOULD bound."""
HELLO_ALLOWANCE = 8192
"""Bytes a hello may have whatever max_frame_bytes says [HANDSHAKE-10]."""
MAX_TOKEN = "t" * 4096
"""The longest token a hello may carry; with it a hello is about 4 KiB [HANDSHAKE-10]."""
HELLO_TIMEOUT_MIN = 1.0
"""The shortest hello timeout a server may have, in seconds [HANDSHAKE-3]."""
HELLO_BURST = 24
"""Connections whose hellos HS-13 sends at once: three times the eight handshakes the reference
handles per pass of its event loop (the others wait for a later pass, SECURITY-4)."""
OPENING_WAVE = 8
"""Connections HS-13 opens at a time, as MEM-01 does: a few handshakes at once, not a flood."""
OPENING_ATTEMPTS = 3
"""Times HS-13 opens its connections again when opening them took too long (a loaded machine)."""
MOST_HANDSHAKES = 1024
"""The largest ``--max-handshakes`` HS-14 checks (N + 1 connections, one after another)."""
REFUSED_TRIES = 3
"""Times HS-14 tries a connection refused with 503 (another case may be opening some)."""
REFUSED_WAIT = 0.25
"""Seconds HS-14 waits between those tries."""


@case(
    id="HS-01",
    requirements=("TRANSPORT-2",),
    title="the server selects subprotocol canaux.v1 when the client offers it",
)
async def hs_01_subprotocol_selected(ctx: CaseContext) -> None:
    client = await ctx.connect("A")
    if client.subprotocol != SUBPROTOCOL:
        raise CaseFailed(f"offered {SUBPROTOCOL!r}, server selected {client.subprotocol!r}")


@case(
    id="HS-02",
    requirements=("TRANSPORT-2",),
    title="without subprotocol canaux.v1 the server refuses (HTTP 400) or closes at once with 4400",
)
async def hs_02_subprotocol_missing(ctx: CaseContext) -> None:
    """A client offering no subprotocol must not get a Canaux session."""
    try:
        client = await ctx.connect("A", subprotocols=None)
    except HandshakeRefused as refused:
        if refused.status != 400:
            raise CaseFailed(
                f"opening handshake refused with HTTP {refused.status}, expected 400"
            ) from refused
        return
    # Accepted: the server must close with 4400 by itself, before the client says anything.
    code = await client.expect_close(ctx.timeout, requirement="TRANSPORT-2")
    if code != 4400:
        raise CaseFailed(f"accepted without subprotocol, then closed with {code}, expected 4400")


@case(
    id="HS-03",
    requirements=("HANDSHAKE-2", "HANDSHAKE-9", "HANDSHAKE-14", "HANDSHAKE-15", "LIMIT-1"),
    title="a valid hello gets one welcome with heartbeat, the five limits and a catalogue",
)
async def hs_03_welcome_contents(ctx: CaseContext) -> None:
    client = await ctx.connect("A")
    welcome = await client.hello(token=ctx.target.token)  # [HANDSHAKE-2] first frame is welcome
    if welcome.get("version") != 1:
        raise CaseFailed(
            f"welcome.version is {welcome.get('version')!r}; hello asked for 1",
            requirement="HANDSHAKE-14",
        )
    if welcome.get("resumed") is not False or welcome.get("seq") != 0:
        raise CaseFailed(
            f"a fresh session must have resumed false and seq 0, got resumed "
            f"{welcome.get('resumed')!r} seq {welcome.get('seq')!r}",
            requirement="HANDSHAKE-15",
        )
    limits = welcome.get("limits", {})
    missing = [name for name in LIMIT_NAMES if name not in limits]
    if missing or "heartbeat_ms" not in welcome or "channels" not in welcome:
        raise CaseFailed(
            f"welcome lacks {missing or ['heartbeat_ms/channels']}", requirement="HANDSHAKE-9"
        )
    minimums = {"max_frame_bytes": 4096, "max_subscriptions": 8, "max_rate": 10, "resume_buffer": 1}
    low = {k: limits[k] for k, floor in minimums.items() if limits[k] < floor}
    if low:
        raise CaseFailed(f"limits below the spec's floors {minimums}: {low}", requirement="LIMIT-1")
    # [HANDSHAKE-2] exactly one welcome: a ping now must be answered by a pong, not another welcome.
    await client.send({"type": "ping", "nonce": "after-welcome"})
    frame = await client.next_frame(requirement="HEARTBEAT-2")
    if frame.get("type") == "welcome":
        raise CaseFailed("the server sent a second welcome", requirement="HANDSHAKE-2")
    if frame.get("type") != "pong":
        await client.expect("pong", nonce="after-welcome", requirement="HEARTBEAT-2")


@case(
    id="HS-04",
    requirements=("HANDSHAKE-2", "OPS-2", "HANDSHAKE-16"),
    title="hello and a subscribe sent back to back: welcome first, then the ack",
)
async def hs_04_pipelined_hello(ctx: CaseContext) -> None:
    """A client need not wait for welcome before its next frame; the reply order still holds."""
    channel = ctx.channel("pipelined")
    client = await ctx.connect("A")
    await client.send(ctx.hello_frame())
    await client.send({"type": "subscribe", "id": "p1", "channel": channel})
    first = await client.next_frame(requirement="HANDSHAKE-2")
    if first.get("type") != "welcome":
        raise CaseFailed(f"first frame is {first.get('type')!r}, not welcome")
    second = await client.next_frame(requirement="OPS-1")
    if second.get("type") != "ack" or second.get("id") != "p1":
        raise CaseFailed(f"after welcome expected ack p1, got {second}", requirement="OPS-1")


@case(
    id="HS-05",
    requirements=("HANDSHAKE-5",),
    title="an unsupported hello.version is closed with 4406, the reason listing version 1",
)
async def hs_05_version_unsupported(ctx: CaseContext) -> None:
    client = await ctx.connect("A")
    await client.send(ctx.hello_frame(version=99))
    code = await client.expect_close(requirement="HANDSHAKE-5")
    if code != 4406:
        raise CaseFailed(f"closed with {code}, expected 4406")
    if "1" not in (client.close_reason or ""):
        raise CaseFailed(
            f"close reason {client.close_reason!r} does not list the supported version 1"
        )


@case(
    id="HS-06",
    requirements=("HANDSHAKE-3", "HANDSHAKE-12"),
    title="no hello: the server closes with 4408 after its hello timeout (≥ 1 s, ≤ 10 s)",
    waits=True,
    timeout=HELLO_TIMEOUT_SHOULD_MAX + HELLO_TIMEOUT_PATIENCE + 30.0,
)
async def hs_06_hello_timeout(ctx: CaseContext) -> None:
    """The timeout is not announced, so the case waits for the SHOULD bound (10 s) plus a
    margin; a server still waiting then is given up to a minute more, which tells a long
    timeout (HANDSHAKE-12, SHOULD) from none at all (HANDSHAKE-3, MUST)."""
    loop = asyncio.get_running_loop()
    client = await ctx.connect("A")
    opened = loop.time()
    try:
        code = await client.expect_close(HELLO_TIMEOUT_SHOULD_MAX + max(2.0, ctx.timeout))
    except CaseFailed:
        code = await client.expect_close(HELLO_TIMEOUT_PATIENCE, requirement="HANDSHAKE-3")
        waited = loop.time() - opened
        if code == 4408:
            raise CaseFailed(
                f"hello timeout of {waited:.1f}s; it SHOULD NOT exceed 10 s",
                requirement="HANDSHAKE-12",
            ) from None
    waited = loop.time() - opened
    ctx.note(f"closed after {waited:.2f}s")
    if code != 4408:
        raise CaseFailed(f"closed with {code} after {waited:.1f}s without hello, expected 4408")
    # The connect itself takes a moment, so allow a little under the 1 s floor.
    if waited < 0.9:
        raise CaseFailed(f"hello timeout of {waited:.2f}s is under the 1 s minimum")
    # The first wait runs past the bound (so a slow close is not taken for no timeout at all);
    # a close after it is still over the SHOULD, judged with a margin for the close itself.
    if waited > HELLO_TIMEOUT_SHOULD_MAX + HELLO_TIMEOUT_TOLERANCE:
        raise CaseFailed(
            f"hello timeout of {waited:.1f}s; it SHOULD NOT exceed 10 s",
            requirement="HANDSHAKE-12",
        )


@case(
    id="HS-07",
    requirements=("HANDSHAKE-1", "HANDSHAKE-4"),
    title="a first frame other than hello is closed with 4400",
)
async def hs_07_first_frame_not_hello(ctx: CaseContext) -> None:
    client = await ctx.connect("A")
    await client.send({"type": "subscribe", "id": "c1", "channel": ctx.channel("early")})
    code = await client.expect_close(requirement="HANDSHAKE-4")
    if code != 4400:
        raise CaseFailed(f"closed with {code}, expected 4400")
    early = [f for f in client.received if f.get("type") in ("ack", "welcome", "event")]
    if early:
        raise CaseFailed(f"the frame before hello was served: {early[0]}")


@case(
    id="HS-08",
    requirements=("HANDSHAKE-6",),
    title="a second hello on one connection is closed with 4409",
)
async def hs_08_second_hello(ctx: CaseContext) -> None:
    client = await ctx.client("A")
    await client.send(ctx.hello_frame())
    code = await client.expect_close(requirement="HANDSHAKE-6")
    if code != 4409:
        raise CaseFailed(f"closed with {code}, expected 4409")


@case(
    id="HS-09",
    requirements=("HANDSHAKE-8", "HANDSHAKE-17", "SECURITY-1"),
    title="session ids are base64url, ≥ 22 chars, distinct and look random",
)
async def hs_09_session_ids(ctx: CaseContext) -> None:
    """16 fresh sessions: a counter, a timestamp or a short id cannot pass.

    Two random 22-character base64url strings agree on a given position with probability
    1/64, so on average on about 0.34 positions; the case fails above 4 on average, and when
    fewer than 40 of the 64 characters appear across all ids.
    """
    sessions: list[str] = []
    for index in range(16):
        client = await ctx.client(f"S{index}")
        sessions.append(str(client.session))
        await client.close()
    bad = [s for s in sessions if not SESSION_RE.match(s)]
    if bad:
        raise CaseFailed(f"session ids not base64url of 22..128 chars: {bad[:3]}")
    if len(set(sessions)) != len(sessions):
        repeated = [s for s, n in Counter(sessions).items() if n > 1]
        raise CaseFailed(f"session ids repeat: {repeated[:3]}", requirement="HANDSHAKE-17")
    pairs = list(combinations(sessions, 2))
    same = sum(sum(a == b for a, b in zip(x, y, strict=False)) for x, y in pairs) / len(pairs)
    alphabet = len(set("".join(sessions)))
    ctx.note(f"mean positions shared by two ids: {same:.2f}; distinct characters: {alphabet}")
    if same > 4 or alphabet < 40:
        raise CaseFailed(
            f"session ids look predictable: two ids share {same:.1f} positions on average "
            f"and use {alphabet} distinct characters (e.g. {sessions[0]}, {sessions[1]})"
        )


@case(
    id="HS-10",
    requirements=("CHANNEL-6", "CHANNEL-1", "CONF-2"),
    title="the catalogue names valid channels, no reserved 'canaux' names, conformance as a family",
)
async def hs_10_catalogue(ctx: CaseContext) -> None:
    client = await ctx.client("A")
    assert client.welcome is not None
    names = [str(entry.get("name")) for entry in client.welcome.get("channels", [])]
    reserved = [n for n in names if n.split(".", 1)[0] == "canaux"]
    if reserved:
        raise CaseFailed(f"reserved names in the catalogue: {reserved}", requirement="CHANNEL-6")
    if len(set(names)) != len(names):
        raise CaseFailed(f"the catalogue lists a name twice: {names}", requirement="CHANNEL-2")
    # The family, and the two exact entries CONF-4 recommends inside it (checked by their cases).
    allowed = {"conformance.*", "conformance.readonly", "conformance.forbidden"}
    stray = [n for n in names if n.startswith("conformance") and n not in allowed]
    if stray:
        raise CaseFailed(
            f"the conformance family must be listed as 'conformance.*' (with, CONF-4, "
            f"conformance.readonly and conformance.forbidden), found {stray}",
            requirement="CONF-2",
        )


@case(
    id="HS-11",
    requirements=("HANDSHAKE-10", "HANDSHAKE-7"),
    title="a hello of 8192 bytes (the longest token, padded) is accepted",
)
async def hs_11_long_token(ctx: CaseContext) -> None:
    """Before the welcome a client does not know max_frame_bytes; a hello up to 8192 bytes
    must be accepted [HANDSHAKE-10]. A server without authentication accepts any token
    [HANDSHAKE-7], so the token is the longest one (4096 characters); a server that
    authenticates gets the run's token. An unknown member pads the hello to exactly 8192
    bytes (unknown members are ignored)."""
    token = ctx.target.token if ctx.target.token is not None else MAX_TOKEN
    hello = ctx.hello_frame(token=token, pad="")
    pad = HELLO_ALLOWANCE - len(encode(hello).encode())
    if pad < 0:
        raise CaseSkipped(f"the --token given is too long to fit a {HELLO_ALLOWANCE}-byte hello")
    hello["pad"] = "x" * pad
    client = await ctx.connect("A")
    await client.send(hello)
    first = await client.next_frame(requirement="HANDSHAKE-10")
    if first.get("type") != "welcome":
        raise CaseFailed(f"a {HELLO_ALLOWANCE}-byte hello was answered {encode(first)[:300]}")
    if first.get("resumed") is not False:
        raise CaseFailed(f"a fresh hello answered resumed={first.get('resumed')!r}")


@case(
    id="HS-12",
    requirements=("HANDSHAKE-18", "HANDSHAKE-4"),
    title="a first frame failing two checks gets the close code of the first check (4400)",
)
async def hs_12_check_order(ctx: CaseContext) -> None:
    """A hello with an unsupported version AND a token that is not a string is not a valid
    hello: 4400 comes before 4406."""
    client = await ctx.connect("A")
    await client.send({"type": "hello", "version": 2, "token": 42})
    code = await client.expect_close(requirement="HANDSHAKE-18")
    if code != 4400:
        raise CaseFailed(f"closed with {code}; the hello is invalid, so 4400 comes first")


async def _open_at_once(ctx: CaseContext, names: list[str]) -> list[RawClient]:
    """WebSockets for ``names`` opened at the same time (no hello); those the server refuses
    with ``503`` are left out: its bound on connections is not announced [SECURITY-12]."""
    opened = await asyncio.gather(*(ctx.connect(name) for name in names), return_exceptions=True)
    clients: list[RawClient] = []
    for name, outcome in zip(names, opened, strict=True):
        if isinstance(outcome, HandshakeRefused) and outcome.status == 503:
            ctx.note(f"{name}: refused with 503 (a bound of SECURITY-12)")
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            clients.append(outcome)
    return clients


@case(
    id="HS-13",
    requirements=("HANDSHAKE-2",),
    title="hellos that arrive at once on many connections each get their welcome",
)
async def hs_13_hellos_at_once(ctx: CaseContext) -> None:
    """24 WebSockets are opened a few at a time (8, or half a given ``--max-handshakes``);
    once all are upgraded their 24 hellos go out at once, so that they reach the server
    together. A server may pace the work of connections that open together (the reference
    handles eight per pass of its event loop and holds the others' bytes for a later pass,
    SECURITY-4), but it MUST answer every valid hello with a welcome [HANDSHAKE-2], before its
    hello timeout (at least 1 s, HANDSHAKE-3) and within the suite's wait. The connections are
    upgraded before their hellos: none is in its opening handshake any more, so the bound on
    handshakes of SECURITY-12 is not what they meet, and the suite's concurrent cases hold as
    many connections open at once."""
    wave = OPENING_WAVE
    if ctx.target.max_handshakes is not None:
        wave = max(1, min(wave, ctx.target.max_handshakes // 2))
    loop = asyncio.get_running_loop()
    clients: list[RawClient] = []
    for attempt in range(OPENING_ATTEMPTS):
        started = loop.time()
        clients = []
        for first in range(0, HELLO_BURST, wave):
            last = min(first + wave, HELLO_BURST)
            clients += await _open_at_once(ctx, [f"B{attempt}.{n}" for n in range(first, last)])
        took = loop.time() - started
        if took < HELLO_TIMEOUT_MIN / 2:
            break
        # The first connection's hello timer runs since its upgrade: a hello sent now might
        # legitimately be too late for it.
        ctx.note(f"opening took {took:.2f}s, too close to the 1 s a hello timeout may be")
        await asyncio.gather(*(client.close() for client in clients))
    else:
        raise CaseSkipped(
            f"opening {HELLO_BURST} connections took over {HELLO_TIMEOUT_MIN / 2:g}s "
            f"{OPENING_ATTEMPTS} times: their hellos could come after a 1 s hello timeout"
        )
    if len(clients) <= OPENING_WAVE:
        raise CaseSkipped(
            f"the server refused {HELLO_BURST - len(clients)} of {HELLO_BURST} connections "
            "with 503 (its bounds are not announced, SECURITY-12): too few to send many "
            "hellos at once",
            applicable=False,
        )
    ctx.note(f"{len(clients)} connections upgraded in {took:.2f}s; their hellos go out at once")
    hello = encode(ctx.hello_frame())
    for client in clients:  # the bookkeeping first, so the sends themselves follow closely
        client.audit.sent(hello)
        client.transcript.add(client.name, "send", hello)
    for client in clients:
        await client.connection.send(hello)
    outcomes = await asyncio.gather(
        *(_welcome(client) for client in clients), return_exceptions=True
    )
    missing = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    for outcome in missing:
        if not isinstance(outcome, CaseFailed):
            raise outcome
    if missing:
        raise CaseFailed(
            f"{len(missing)} of {len(clients)} hellos sent at once got no welcome (first: "
            f"{missing[0]}): every valid hello is answered with a welcome, however many "
            "arrive together",
            requirement="HANDSHAKE-2",
        )
    await asyncio.gather(*(client.close() for client in clients))


async def _welcome(client: RawClient) -> None:
    """The first frame after ``client``'s hello, which MUST be a welcome [HANDSHAKE-2]."""
    first = await client.next_frame(requirement="HANDSHAKE-2")
    if first.get("type") != "welcome":
        raise CaseFailed(
            f"client {client.name}: first frame after hello is {encode(first)[:200]}",
            requirement="HANDSHAKE-2",
        )


async def _welcomed(ctx: CaseContext, name: str) -> RawClient | None:
    """A client past its welcome, or ``None`` when every try was refused with ``503``."""
    for attempt in range(REFUSED_TRIES):
        if attempt:
            # A back-off after a refusal (Retry-After), not a synchronisation: another case
            # may have had connections in their opening handshake just then.
            await asyncio.sleep(REFUSED_WAIT)
        try:
            return await ctx.client(name)
        except HandshakeRefused as exc:
            if exc.status != 503:
                raise
            ctx.note(f"{name}: refused with 503")
    return None


@case(
    id="HS-14",
    requirements=("SECURITY-12",),
    title="past the bound on handshakes, connections opened one after another are still "
    "welcomed: a handshake ends with its request head",
    timeout=120.0,
)
async def hs_14_finished_handshakes_stop_counting(ctx: CaseContext) -> None:
    """With the server's bound N on connections in their opening handshake (not announced:
    given to the suite), N + 1 WebSockets are opened one after another, each welcomed and
    closed before the next. A connection is in its opening handshake from its acceptance
    until its request head is complete [SECURITY-12]: none of the earlier ones is by the time
    the next opens, so the last must get its welcome like the first, not a 503 (a server that
    kept counting an upgraded connection as a handshake would refuse every connection after
    its N-th). A 503 is tried again twice, a quarter of a second apart: other cases may have
    handshakes under way."""
    bound = ctx.target.max_handshakes
    if bound is None:
        raise CaseSkipped(
            "the server's bound on connections in their opening handshake is not announced "
            "(SECURITY-12): give --max-handshakes N to check it",
            applicable=False,
        )
    if bound < 1 or bound > MOST_HANDSHAKES:
        raise CaseSkipped(
            f"--max-handshakes {bound}: the case checks bounds of 1 to {MOST_HANDSHAKES}",
            applicable=False,
        )
    for n in range(bound + 1):
        client = await _welcomed(ctx, f"H{n}")
        if client is None:
            raise CaseFailed(
                f"connection {n + 1} of {bound + 1}, opened after each earlier one was "
                f"welcomed and closed, was refused with 503 ({REFUSED_TRIES} tries): none of "
                "them is in its opening handshake any more (its request head was complete), "
                f"so the bound of {bound} handshakes does not count them",
                requirement="SECURITY-12",
            )
        await client.close()
    ctx.note(f"{bound + 1} connections welcomed one after another (bound {bound} handshakes)")
