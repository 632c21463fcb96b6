"""Commands that move ``current`` as the table says (standard-channels.md) [QUEUE-5]: ``play``
without an index (the first item of a queue that had none current, else where it was),
``remove`` before, at and after the current item, ``add`` before, at and after it, and ``move``
past it and of it."""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import Frame, RawClient, encode

__all__: list[str] = []


async def _state(client: RawClient, version: int, timeout: float) -> Frame:
    """The playqueue state of ``version`` [QUEUE-8: one version per applied command]."""
    return await client.expect(
        "event",
        channel="playqueue",
        where=lambda f: isinstance(f.get("data"), dict) and f["data"].get("version") == version,
        timeout=timeout,
        requirement="QUEUE-8",
        what=f"the playqueue state of version {version}",
    )


def _current_track(state: dict[str, Any]) -> object:
    """The ``id`` of the track ``current`` points at in a queue state, if it points at one."""
    items, current = state.get("items"), state.get("current")
    if isinstance(items, list) and isinstance(current, int) and 0 <= current < len(items):
        track = items[current]
        return track.get("id") if isinstance(track, dict) else None
    return None


async def _queue_after(ctx: CaseContext, commands: list[dict[str, Any]]) -> tuple[RawClient, int]:
    """Client A subscribed to ``playqueue`` after ``commands``: A and the version they lead to."""
    ctx.require_channel("playqueue")
    a = await ctx.client("A")
    await a.subscribe("playqueue")
    snapshot = await a.expect("event", channel="playqueue", requirement="QUEUE-1")
    version = snapshot["data"].get("version")
    if not isinstance(version, int):
        raise CaseFailed(f"snapshot without a version: {encode(snapshot)}", requirement="QUEUE-1")
    for command in commands:
        await a.publish("playqueue", command)
    return a, version + len(commands)


def _cleared_with(ctx: CaseContext, key: str, title: str, count: int) -> list[dict[str, Any]]:
    """Clear the queue, then add ``count`` tracks (ids ``<run>-<key><n>``)."""
    return [{"op": "clear"}] + [
        {"op": "add", "track": {"id": f"{ctx.run_id}-{key}{n}", "title": f"{title} {n}"}}
        for n in range(count)
    ]


@case(
    id="QPLAY-01",
    requirements=("QUEUE-5",),
    profile="playqueue",
    title="play without an index starts at the first item, or stays where current was",
)
async def qplay_01(ctx: CaseContext) -> None:
    """A clears the queue, adds two tracks and sends play without index: current becomes 0,
    playing true. A plays index 1, pauses, and plays without index: current stays 1 [QUEUE-5]."""
    a, version = await _queue_after(ctx, [*_cleared_with(ctx, "play", "play", 2), {"op": "play"}])
    state = (await _state(a, version, ctx.timeout))["data"]
    if (state.get("current"), state.get("playing")) != (0, True):
        raise CaseFailed(
            f"play without index on a queue with current null gave current "
            f"{state.get('current')!r}, playing {state.get('playing')!r}; the table says 0, true",
            requirement="QUEUE-5",
        )
    for command in ({"op": "play", "index": 1}, {"op": "pause"}, {"op": "play"}):
        await a.publish("playqueue", command)
    version += 3
    state = (await _state(a, version, ctx.timeout))["data"]
    if (state.get("current"), state.get("playing")) != (1, True):
        raise CaseFailed(
            f"play without index with current 1 gave current {state.get('current')!r}, "
            f"playing {state.get('playing')!r}; the table says current stays 1, playing true",
            requirement="QUEUE-5",
        )


@case(
    id="QREMOVE-01",
    requirements=("QUEUE-5",),
    profile="playqueue",
    title="remove keeps current on the same track, or its neighbour when it is the one removed",
)
async def qremove_01(ctx: CaseContext) -> None:
    """A clears the queue, adds three tracks and plays the last (current 2). Removing index 0
    makes current 1 (the same track); removing index 1 (current, the last) makes current 0;
    removing the last item leaves current null and playing false [QUEUE-5]."""
    setup = [*_cleared_with(ctx, "rm", "remove", 3), {"op": "play", "index": 2}]
    a, version = await _queue_after(ctx, setup)
    steps = (
        (0, 1, True, "removing index 0 before current 2"),
        (1, 0, True, "removing index 1, the current and last item"),
        (0, None, False, "removing the only item"),
    )
    for index, current, playing, what in steps:
        await a.publish("playqueue", {"op": "remove", "index": index})
        version += 1
        state = (await _state(a, version, ctx.timeout))["data"]
        if (state.get("current"), state.get("playing")) != (current, playing):
            raise CaseFailed(
                f"{what} gave current {state.get('current')!r}, playing "
                f"{state.get('playing')!r}; the table says {current!r}, {playing!r}",
                requirement="QUEUE-5",
            )


@case(
    id="QADD-01",
    requirements=("QUEUE-5",),
    profile="playqueue",
    title="add before or at current shifts current with its track; add after it does not",
)
async def qadd_01(ctx: CaseContext) -> None:
    """A clears the queue, adds three tracks and plays index 1 (current 1). Adding at index 1
    (= current) makes current 2, adding at index 0 makes it 3, both still on the same track;
    adding at the end leaves it 3 [QUEUE-5: "If current ≠ null and index ≤ current,
    current + 1"]."""
    setup = [*_cleared_with(ctx, "add", "add", 3), {"op": "play", "index": 1}]
    a, version = await _queue_after(ctx, setup)
    playing_id = f"{ctx.run_id}-add1"
    steps = (
        (1, 2, "adding at index 1, the current one"),
        (0, 3, "adding at index 0, before current 2"),
        (5, 3, "adding at index 5, the end, after current 3"),
    )
    for index, current, what in steps:
        track = {"id": f"{ctx.run_id}-new{index}", "title": f"inserted at {index}"}
        await a.publish("playqueue", {"op": "add", "track": track, "index": index})
        version += 1
        state = (await _state(a, version, ctx.timeout))["data"]
        got, track_id = state.get("current"), _current_track(state)
        if got != current or track_id != playing_id or state.get("playing") is not True:
            raise CaseFailed(
                f"{what} gave current {got!r} (track {track_id!r}), playing "
                f"{state.get('playing')!r}; the table says current {current} (track "
                f"{playing_id!r}), playing true",
                requirement="QUEUE-5",
            )


@case(
    id="QMOVE-01",
    requirements=("QUEUE-5",),
    profile="playqueue",
    title="move keeps current on the same track: moved past it either way, or moved itself",
)
async def qmove_01(ctx: CaseContext) -> None:
    """A clears the queue, adds four tracks and plays index 1 (current 1). Moving 3 to 0
    (past current, backwards) makes current 2; moving 0 to 3 (past it, forwards) makes it 1
    again; moving 1 (current itself) to 3 makes it 3: each time on the same track [QUEUE-5:
    "current follows the item it pointed at"]."""
    setup = [*_cleared_with(ctx, "mv", "move", 4), {"op": "play", "index": 1}]
    a, version = await _queue_after(ctx, setup)
    playing_id = f"{ctx.run_id}-mv1"
    steps = (
        (3, 0, 2, "moving 3 to 0, past current 1 backwards"),
        (0, 3, 1, "moving 0 to 3, past current 2 forwards"),
        (1, 3, 3, "moving 1, the current one, to 3"),
    )
    for source, target, current, what in steps:
        await a.publish("playqueue", {"op": "move", "from": source, "to": target})
        version += 1
        state = (await _state(a, version, ctx.timeout))["data"]
        got, track_id = state.get("current"), _current_track(state)
        if got != current or track_id != playing_id:
            raise CaseFailed(
                f"{what} gave current {got!r} (track {track_id!r}); the table says current "
                f"{current} (track {playing_id!r})",
                requirement="QUEUE-5",
            )
