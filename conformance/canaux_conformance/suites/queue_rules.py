"""The play queue under commands from two sessions at once: consistent states, one order,
versions one apart, and refusals in the specified order (standard-channels.md, playqueue).

Every state both sessions receive is also judged by the stream audit: ``current`` a valid
index [QUEUE-4], versions strictly increasing by one [QUEUE-8].
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Callable

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import Frame, RawClient, encode

__all__: list[str] = []


def _states(client: RawClient) -> list[Frame]:
    return [
        f
        for f in client.received
        if f.get("type") == "event"
        and f.get("channel") == "playqueue"
        and isinstance(f.get("data"), dict)
        and f["data"].get("type") == "state"
    ]


async def _snapshot(client: RawClient, timeout: float) -> int:
    await client.subscribe("playqueue")
    snapshot = await client.expect(
        "event", channel="playqueue", timeout=timeout, requirement="QUEUE-1"
    )
    version = snapshot["data"].get("version")
    if not isinstance(version, int):
        raise CaseFailed(f"snapshot without a version: {encode(snapshot)}", requirement="QUEUE-1")
    return version


def _reply_to(frame_id: str) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") in ("ack", "error") and f.get("id") == frame_id


@case(
    id="QRULE-01",
    requirements=("QUEUE-7", "QUEUE-8", "QUEUE-4"),
    profile="playqueue",
    title="commands of two sessions at once: both see one sequence of states, versions +1",
)
async def qrule_01(ctx: CaseContext) -> None:
    """A and B each send three adds and a pause without waiting for replies: all eight are
    acked, and both sessions receive the same eight states, versions one apart, ending with
    the six new tracks [QUEUE-7, QUEUE-8, QUEUE-4]."""
    ctx.require_channel("playqueue")
    a, b = await ctx.client("A"), await ctx.client("B")
    start = await _snapshot(a, ctx.timeout)
    await _snapshot(b, ctx.timeout)
    ids: dict[str, list[str]] = {"A": [], "B": []}
    for client in (a, b):
        for n in range(3):
            track = {"id": f"{ctx.run_id}-{client.name}{n}", "title": f"conformance {n}"}
            frame_id = client.next_id("q")
            ids[client.name].append(frame_id)
            await client.send(
                {"type": "publish", "id": frame_id, "channel": "playqueue",
                 "data": {"op": "add", "track": track}}
            )  # fmt: skip
        frame_id = client.next_id("q")
        ids[client.name].append(frame_id)
        await client.send(
            {"type": "publish", "id": frame_id, "channel": "playqueue", "data": {"op": "pause"}}
        )
    for client in (a, b):
        for frame_id in ids[client.name]:
            reply = await client.expect(
                where=_reply_to(frame_id), what=f"reply to {frame_id}", requirement="OPS-1"
            )
            if reply["type"] != "ack":
                raise CaseFailed(
                    f"an always-valid command was refused: {encode(reply)}", requirement="QUEUE-5"
                )
    final = start + 8
    for client in (a, b):
        await client.expect(
            "event",
            channel="playqueue",
            where=lambda f: isinstance(f.get("data"), dict) and f["data"].get("version") == final,
            what=f"the state of version {final}",
            requirement="QUEUE-2",
        )
    seen = {c.name: [s["data"] for s in _states(c)][1:] for c in (a, b)}
    versions = [s.get("version") for s in seen["A"]]
    if versions != list(range(start + 1, final + 1)):
        raise CaseFailed(f"A's state versions after {start}: {versions}", requirement="QUEUE-8")
    if seen["A"] != seen["B"]:
        raise CaseFailed("A and B received different sequences of states", requirement="QUEUE-7")
    names = {t.get("id") for t in seen["A"][-1].get("items", []) if isinstance(t, dict)}
    missing = [
        i for n in "AB" for i in (f"{ctx.run_id}-{n}{k}" for k in range(3)) if i not in names
    ]
    if missing:
        raise CaseFailed(
            f"acked adds missing from the final state: {missing}", requirement="QUEUE-5"
        )


@case(
    id="QRULE-02",
    requirements=("QUEUE-6",),
    profile="playqueue",
    title="a command failing several checks gets the first one's error: schema, if_version, …",
)
async def qrule_02(ctx: CaseContext) -> None:
    """A remove of an index far past the end with a stale if_version is refused with
    version_conflict (if_version before the condition); one whose index is not an integer
    and whose if_version is stale, with invalid_payload (the schema first) [QUEUE-6]."""
    ctx.require_channel("playqueue")
    a = await ctx.client("A")
    version = await _snapshot(a, ctx.timeout)
    stale = version + 1000
    cases = [
        ({"op": "remove", "index": 10**6, "if_version": stale}, "version_conflict"),
        ({"op": "remove", "index": "first", "if_version": stale}, "invalid_payload"),
    ]
    for data, code in cases:
        reply = await a.publish("playqueue", data, ok=False)
        if reply.get("type") != "error" or reply.get("code") != code:
            raise CaseFailed(
                f"{encode(data)} answered {encode(reply)}; the first failing check gives {code}",
                requirement="QUEUE-6",
            )


@case(
    id="QRULE-03",
    requirements=("QUEUE-3", "QUEUE-5"),
    profile="playqueue",
    title="previous at the first item and next at the last are refused with invalid_command",
)
async def qrule_03(ctx: CaseContext) -> None:
    """A adds two tracks and plays the first: previous is refused (invalid_command, /data/op);
    A plays the last: next is refused the same way; neither changes the queue [QUEUE-3]."""
    ctx.require_channel("playqueue")
    a = await ctx.client("A")
    await _snapshot(a, ctx.timeout)
    for n in range(2):
        track = {"id": f"{ctx.run_id}-edge{n}", "title": f"edge {n}"}
        await a.publish("playqueue", {"op": "add", "track": track})
    state = await a.expect(
        "event",
        channel="playqueue",
        where=lambda f: any(
            isinstance(t, dict) and t.get("id") == f"{ctx.run_id}-edge1"
            for t in f.get("data", {}).get("items", [])
        ),
        what="the state with both tracks",
        requirement="QUEUE-2",
    )
    items = state["data"]["items"]
    ends = {"previous": 0, "next": len(items) - 1}
    for op, index in ends.items():
        await a.publish("playqueue", {"op": "play", "index": index})
        reply = await a.publish("playqueue", {"op": op}, ok=False)
        if reply.get("type") != "error" or reply.get("code") != "invalid_command":
            raise CaseFailed(
                f"{op} with current {index} of {len(items)} answered {encode(reply)}",
                requirement="QUEUE-3",
            )
        if reply.get("pointer") != "/data/op":
            raise CaseFailed(
                f"{op} refused with pointer {reply.get('pointer')!r}", requirement="QUEUE-3"
            )
