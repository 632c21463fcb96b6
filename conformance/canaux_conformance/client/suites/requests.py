"""Client cases: answers to the application's requests and the frame limit (spec operations.md,
limits.md)."""

from __future__ import annotations

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import CaseFailed

_MAX_FRAME = 4096
"""The smallest max_frame_bytes a welcome may announce (frame.json)."""


@client_case(
    id="CL-ERR-01",
    requirements=("OPS-19",),
    title="an error code the client does not know is handled like internal_error",
)
async def cl_err_01(ctx: ClientCaseContext) -> None:
    """A later revision may add error codes: the application sees a refusal, the connection
    stays up."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    n = await adapter.send("publish", channel=channel, data=ctx.data())
    frame = await conn.next(timeout=ctx.timeout, types=("publish",))
    await conn.error(str(frame.get("id")), "conformance_future_code", "a code from the future")
    outcome = await ctx.outcome(adapter, n, requirement="OPS-19")
    # [OPS-19] "MUST treat an error code that it does not know like internal_error"
    if outcome.kind != "refused" or outcome.get("code") not in (
        "internal_error",
        "conformance_future_code",
    ):
        raise CaseFailed(
            f"an error with an unknown code answered the publish; the application saw "
            f"{outcome.body!r}, not a refusal like internal_error",
            requirement="OPS-19",
        )
    if not conn.open:
        raise CaseFailed(
            f"the client closed the connection ({conn.close_code}) on an unknown error code",
            requirement="OPS-19",
        )


@client_case(
    id="CL-REF-01",
    requirements=("CLIENT-7",),
    title="a refused publish is reported once and not re-sent after a reconnection",
)
async def cl_ref_01(ctx: ClientCaseContext) -> None:
    """The catalogue says only the server publishes on the channel; the server refuses."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    catalogue = [
        {"name": channel, "publish": "server", "schema": "urn:conformance:any"},
        {"name": "conformance.*", "publish": "client", "schema": "urn:conformance:any"},
    ]
    conn, welcome = await ctx.welcomed(adapter, server, subscribe=[channel], channels=catalogue)
    n = await adapter.send("publish", channel=channel, data=ctx.data())
    frame = await conn.next_or_none(timeout=ctx.timeout, types=("publish",))
    if frame is not None:
        await conn.error(str(frame.get("id")), "forbidden", "only the server publishes here",
                         channel=channel)  # fmt: skip
    outcome = await ctx.outcome(adapter, n, requirement="CLIENT-7")
    if outcome.kind == "ack":
        raise CaseFailed(f"a refused publish was reported as {outcome.body!r}",
                         requirement="CLIENT-7")  # fmt: skip
    conn.cut()
    wait = ctx.backoff(adapter).bound(0) + ctx.timeout
    conn2 = await server.accept(timeout=wait)
    await conn2.hello(timeout=ctx.timeout)
    await conn2.welcome(session=welcome["session"], resumed=True, channels=catalogue)
    again = await conn2.next_or_none(timeout=0.5, types=("publish",))
    # [CLIENT-7] keep a request "until it receives its ack or error": an answered one is done.
    if again is not None:
        raise CaseFailed(
            f"the client re-sent the publish the server had refused: {again.text!r}",
            requirement="CLIENT-7",
        )


async def _oversize(ctx: ClientCaseContext) -> tuple[str, str | None]:
    """Publish data that makes a frame over max_frame_bytes; what crossed the wire, and the
    error kind the application saw (None: none)."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(
        adapter, server, subscribe=[channel], limits={"max_frame_bytes": _MAX_FRAME}
    )
    data = {"mark": "big", "pad": "y" * (_MAX_FRAME + 100)}
    n = await adapter.send("publish", channel=channel, data=data)
    done = await adapter.wait_for(lambda m: m.kind == "done" and m.get("n") == n,
                                  timeout=ctx.timeout, what="done")  # fmt: skip
    kind = (done.get("error") or {}).get("kind")
    if kind is None:
        outcome = await adapter.observe(
            lambda m: m.kind in ("ack", "refused", "failed") and m.get("n") == n, timeout=1.0
        )
        kind = outcome.get("kind") if outcome is not None and outcome.kind == "failed" else None
    sent = await conn.next_or_none(timeout=0.5, types=("publish",))
    oversize = [f.text for f in conn.received if f.text and len(f.text.encode()) > _MAX_FRAME]
    return (oversize[0] if oversize else ("" if sent is None else "small")), kind


@client_case(
    id="CL-LIMIT-01",
    requirements=("LIMIT-7",),
    title="the client never sends a frame longer than max_frame_bytes",
)
async def cl_limit_01(ctx: ClientCaseContext) -> None:
    big, _ = await _oversize(ctx)
    # [LIMIT-7] "MUST NOT send a frame longer than max_frame_bytes"
    if big not in ("", "small"):
        raise CaseFailed(
            f"with max_frame_bytes {_MAX_FRAME} the client sent a {len(big.encode())}-byte frame",
            requirement="LIMIT-7",
        )


@client_case(
    id="CL-LIMIT-02",
    requirements=("LIMIT-7",),
    level="SHOULD",
    title="a publish too large for max_frame_bytes is refused locally with an error",
)
async def cl_limit_02(ctx: ClientCaseContext) -> None:
    _, kind = await _oversize(ctx)
    # [LIMIT-7] "SHOULD refuse such a send locally, with an error to the application"
    if kind != "too_large":
        raise CaseFailed(
            f"the application got no too_large error for an oversize publish (got {kind!r})",
            requirement="LIMIT-7",
        )


@client_case(
    id="CL-FRAMES-01",
    requirements=(
        "TRANSPORT-3",
        "TRANSPORT-9",
        "TRANSPORT-10",
        "TRANSPORT-17",
        "OPS-12",
        "CHANNEL-1",
    ),
    title="every frame the client sends is one valid JSON object, I-JSON, without duplicates",
)
async def cl_frames_01(ctx: ClientCaseContext) -> None:
    """Subscribe, publish data of every JSON kind, unsubscribe; the scripted server audits every
    client frame of every case the same way (scripted_server.py), this case names the
    requirements."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    payloads = [
        {"mark": "kinds", "n": [0, -1, 2**53 - 1, 1.5, -0.25, 1e300], "t": True, "z": None},
        {"mark": "text", "s": 'é ü 中 \U0001f600 \\ " \n \t', "empty": "", "nested": [[{"a": []}]]},
        ["a", "list", 1],
        "a string",
        42,
    ]
    for data in payloads:
        n = await adapter.send("publish", channel=channel, data=data)
        frame = await conn.next(timeout=ctx.timeout, types=("publish",))
        await conn.ack(str(frame.get("id")))
        await ctx.outcome(adapter, n, requirement="CLIENT-7")
        if frame.get("data") != data:
            raise CaseFailed(
                f"the application published {data!r}; the frame carried {frame.get('data')!r}",
                requirement="TRANSPORT-17",
            )
    await adapter.command("unsubscribe", channel=channel)
    unsub = await conn.next(timeout=ctx.timeout, types=("unsubscribe",))
    await conn.ack(str(unsub.get("id")))
    # [CHANNEL-1] an application's invalid channel name never reaches the wire.
    for bad in ("Not A Channel", "x" * 129, ".leading-dot"):
        done = await adapter.command("publish", channel=bad, data=ctx.data())
        if done.get("error") is None:
            await ctx.outcome(adapter, int(done.get("n")), requirement="CLIENT-7")
    ctx.check()
