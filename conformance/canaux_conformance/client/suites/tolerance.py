"""Client cases: what a client must accept from a server (spec transport.md, heartbeat.md)."""

from __future__ import annotations

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import CaseFailed


@client_case(
    id="CL-TOL-01",
    requirements=("TRANSPORT-7", "HEARTBEAT-7"),
    title="unknown members and a pong nobody asked for change nothing",
)
async def cl_tol_01(ctx: ClientCaseContext) -> None:
    """A welcome and an event with members this version does not define, and an unsolicited
    pong: the client keeps the connection and delivers the event."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn = await ctx.connect(adapter, server, subscribe=[channel])
    await conn.hello(timeout=ctx.timeout)
    welcome = {
        "type": "welcome", "version": 1, "session": "conformance-tolerance-0001", "resumed": False,
        "seq": 0, "heartbeat_ms": 30000, "future_member": {"x": [1]},
        "limits": {"max_frame_bytes": 1048576, "max_subscriptions": 64, "max_rate": 1000,
                   "resume_window_ms": 60000, "resume_buffer": 1024, "future_limit": 7},
        "channels": [{"name": "conformance.*", "publish": "client", "schema": "urn:any",
                      "future": True}],
    }  # fmt: skip
    await conn.send(welcome)
    subscribe = await conn.next_or_none(timeout=ctx.timeout, types=("subscribe",))
    if subscribe is None:
        ended = f" and closed with {conn.close_code}" if not conn.open else ""
        raise CaseFailed(
            f"after a welcome with members v1 does not define, the client never subscribed{ended}",
            requirement="TRANSPORT-7",
        )
    await conn.ack(str(subscribe.get("id")))
    await conn.send({"type": "pong", "nonce": "never-asked"})
    await conn.send({"type": "pong"})
    data = ctx.data()
    await conn.send({"type": "event", "seq": 1, "channel": channel, "data": data, "later": 1})
    # [TRANSPORT-7] "MUST ignore members ... and MUST NOT reject a frame because of them";
    # [HEARTBEAT-7] "A pong that answers no outstanding ping ... MUST be ignored"
    await ctx.wait_delivered(adapter, data, requirement="TRANSPORT-7")
    if not conn.open:
        raise CaseFailed(
            f"the client closed the connection ({conn.close_code}) on unknown members or an "
            "unsolicited pong",
            requirement="TRANSPORT-7",
        )


@client_case(
    id="CL-TOL-02",
    requirements=("TRANSPORT-12",),
    title="a duplicate member name: close with 1007, or use its last occurrence",
)
async def cl_tol_02(ctx: ClientCaseContext) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    first, last = ctx.data("first"), ctx.data("last")
    await conn.send_text(
        f'{{"type":"event","seq":1,"channel":"{channel}",'
        f'"data":{{"mark":"{first["mark"]}"}},"data":{{"mark":"{last["mark"]}"}}}}'
    )
    found = await adapter.observe(lambda m: m.kind == "event", timeout=1.0)
    code = None if found is not None else await conn.wait_closed(timeout=ctx.timeout)
    # [TRANSPORT-12] "A client MAY close the connection with 1007 ...; if it does not, it MUST
    # use the last occurrence of each duplicated name."
    if found is not None and found.get("data") != last:
        raise CaseFailed(
            f"an event whose data was given twice reached the application as "
            f"{found.get('data')!r}, not the last occurrence {last!r}",
            requirement="TRANSPORT-12",
        )
    if found is None and code != 1007:
        shown = "neither delivered it nor closed" if code is None else f"closed with {code}"
        raise CaseFailed(
            f"for an event with a duplicate member the client {shown} (1007 or the last "
            "occurrence)",
            requirement="TRANSPORT-12",
        )


@client_case(
    id="CL-TOL-03",
    requirements=("LIMIT-14",),
    title="a welcome announcing the optional limits is accepted",
)
async def cl_tol_03(ctx: ClientCaseContext) -> None:
    """A welcome whose limits hold the optional members (resume_buffer_bytes, outbound_queue,
    outbound_queue_bytes, max_detached_sessions): the client subscribes and delivers events."""
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn = await ctx.connect(adapter, server, subscribe=[channel])
    await conn.hello(timeout=ctx.timeout)
    optional = {
        "resume_buffer_bytes": 65536,
        "outbound_queue": 1,
        "outbound_queue_bytes": 65536,
        "max_detached_sessions": 1,
    }
    await conn.welcome(limits=optional)
    # [LIMIT-14] "A client MUST accept a welcome whose limits has none, some or all of" them.
    subscribe = await conn.next_or_none(timeout=ctx.timeout, types=("subscribe",))
    if subscribe is None:
        ended = f" and closed with {conn.close_code}" if not conn.open else ""
        raise CaseFailed(
            f"after a welcome announcing {sorted(optional)}, the client never subscribed{ended}",
            requirement="LIMIT-14",
        )
    await conn.ack(str(subscribe.get("id")))
    data = ctx.data()
    await conn.event(1, channel, data)
    await ctx.wait_delivered(adapter, data, requirement="LIMIT-14")
    if not conn.open:
        raise CaseFailed(
            f"the client closed the connection ({conn.close_code}) after a welcome announcing "
            "the optional limits",
            requirement="LIMIT-14",
        )


@client_case(
    id="CL-NUM-01",
    requirements=("TRANSPORT-19",),
    title="numbers reach the application as the doubles they denote",
)
async def cl_num_01(ctx: ClientCaseContext) -> None:
    server = await ctx.server()
    adapter = await ctx.adapter()
    channel = ctx.channel()
    conn, _ = await ctx.welcomed(adapter, server, subscribe=[channel])
    # The spec's own examples; no integer beyond 2^53, which TRANSPORT-21 lets a client refuse.
    written = ["1E2", "0.10", "-0.0", "1e-7", "2.5e+3", "0.123456789012345678901234567890"]
    meant = [100.0, 0.1, 0.0, 1e-7, 2500.0, 0.12345678901234568]
    numbers = ",".join(written)
    await conn.send_text(
        f'{{"type":"event","seq":1,"channel":"{channel}","data":{{"mark":"num","n":[{numbers}]}}}}'
    )
    found = await adapter.observe(lambda m: m.kind == "event", timeout=ctx.timeout)
    if found is None:
        raise CaseFailed("an event with numbers never reached the application",
                         requirement="TRANSPORT-19")  # fmt: skip
    got = (found.get("data") or {}).get("n")
    # [TRANSPORT-19] "A receiver MUST read every number as the IEEE 754 double nearest to it"
    if (
        not isinstance(got, list)
        or len(got) != len(meant)
        or any(
            not isinstance(g, int | float) or float(g) != m for g, m in zip(got, meant, strict=True)
        )
    ):
        raise CaseFailed(
            f"numbers written {written} reached the application as {got!r} (expected the "
            f"doubles {meant})",
            requirement="TRANSPORT-19",
        )
