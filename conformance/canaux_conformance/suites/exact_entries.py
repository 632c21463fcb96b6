"""An exact catalogue entry inside a family takes precedence over it (channels.md CHANNEL-9),
seen through the conformance profile's ``conformance.readonly`` (standard-channels.md CONF-4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import encode

__all__ = ["READONLY", "conformance_entry", "entry_01_exact_entry_wins"]

READONLY = "conformance.readonly"
SCHEMA = "https://canaux.dev/schemas/v1/channels/conformance.json"


def conformance_entry(ctx: CaseContext, name: str, publish: str) -> Mapping[str, Any]:
    """The catalogue entry ``name`` of CONF-4 (skipped, not applicable, when it is not listed;
    a fail when it is listed otherwise than CONF-4 says)."""
    if ctx.server is None or not ctx.server.offers("conformance.*"):
        raise CaseSkipped("the server's catalogue has no 'conformance.*' family (CONF-2)")
    entry = next((e for e in ctx.server.catalogue if e.get("name") == name), None)
    if entry is None:
        raise CaseSkipped(
            f"the catalogue does not list {name!r} (CONF-4 recommends it)", applicable=False
        )
    if entry.get("publish") != publish or entry.get("schema") != SCHEMA:
        raise CaseFailed(
            f"catalogue entry {dict(entry)}: CONF-4 lists {name} with publish {publish!r} and "
            f"the schema {SCHEMA}",
            requirement="CONF-4",
        )
    return entry


@case(
    id="ENTRY-01",
    requirements=("CHANNEL-9", "CONF-4", "CHANNEL-4"),
    title="conformance.readonly (an exact entry) wins over conformance.*: a client publish on it "
    "is forbidden",
)
async def entry_01_exact_entry_wins(ctx: CaseContext) -> None:
    """A subscribes to ``conformance.readonly`` and to a channel below it that only the family
    matches. B's publish on ``conformance.readonly`` is answered ``forbidden`` and delivers
    nothing (the exact entry, ``"publish": "server"``, applies) [CHANNEL-9, CHANNEL-4]; B's
    publish on the channel below it is acked and delivered (the family applies) [CONF-4]."""
    conformance_entry(ctx, READONLY, "server")
    below = f"{READONLY}.{ctx.run_id}.{ctx.case_id.lower()}"
    a = await ctx.client("A")
    await a.subscribe(READONLY)
    await a.subscribe(below)
    b = await ctx.client("B")
    reply = await b.publish(READONLY, {"mark": "refused"}, ok=False)
    if reply.get("type") != "error" or reply.get("code") != "forbidden":
        raise CaseFailed(
            f"a client publish on {READONLY} (catalogue: publish server, inside conformance.*)"
            f" was answered {encode(reply)}: the exact entry applies, so it is forbidden",
            requirement="CHANNEL-9",
        )
    await b.publish(below, {"mark": "delivered"}, ok=True)
    got = await a.expect("event", channel=below, requirement="CONF-4")
    if got.get("data") != {"mark": "delivered"}:
        raise CaseFailed(f"{below} delivered {encode(got)}", requirement="CONF-1")
    # The event on `below` was published after the refused one: anything of it is here by now.
    refused = [f for f in a.received if f.get("type") == "event" and f.get("channel") == READONLY]
    if refused:
        raise CaseFailed(
            f"the refused publish on {READONLY} was delivered: {encode(refused[0])}",
            requirement="CHANNEL-4",
        )
