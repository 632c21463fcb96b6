"""The catalogue a welcome announces: standard channels as the table says, and the
``conformance.*`` family open to every name of the grammar (channels.md, standard-channels.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from canaux_conformance.cases import CaseContext, CaseSkipped, case
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.suites._delivery import new_mark, wait_marks
from canaux_conformance.wire import encode

__all__: list[str] = []

_BASE = "https://canaux.dev/schemas/v1/channels/"
STANDARD = {
    "chat": ("client", _BASE + "chat.json"),
    "playqueue": ("client", _BASE + "playqueue.json"),
    "system": ("server", _BASE + "system.json"),
    "progress": ("server", _BASE + "progress.json"),
    "conformance.*": ("client", _BASE + "conformance.json"),
}
"""The table of standard-channels.md: name → (publish, schema)."""

_REQUIREMENT = {"system": "SYSTEM-1", "progress": "PROGRESS-3", "conformance.*": "CONF-2"}


@case(
    id="CAT-01",
    requirements=("CHANNEL-15", "CHANNEL-11", "PROGRESS-3", "SYSTEM-1"),
    title="standard channels are listed with the table's publish value and schema",
)
async def cat_01(ctx: CaseContext) -> None:
    """Every standard channel in the catalogue has exactly the table's publish value and
    schema [CHANNEL-15, SYSTEM-1, PROGRESS-3]; every entry names its schema by an absolute URI
    (the $id of a JSON Schema) [CHANNEL-11]."""
    a = await ctx.client("A")
    assert a.welcome is not None
    entries = [e for e in a.welcome.get("channels", []) if isinstance(e, dict)]
    if not entries:
        raise CaseSkipped("the catalogue is empty", applicable=False)
    for entry in entries:
        name, schema = entry.get("name"), entry.get("schema")
        parts = urlsplit(schema) if isinstance(schema, str) else None
        if parts is None or not parts.scheme or not parts.netloc:
            raise CaseFailed(
                f"catalogue entry {encode(entry)}: schema is not the absolute URI of a schema",
                requirement="CHANNEL-11",
            )
        if name in STANDARD and (entry.get("publish"), schema) != STANDARD[str(name)]:
            publish, wanted = STANDARD[str(name)]
            raise CaseFailed(
                f"catalogue entry {encode(entry)}: the table says publish {publish!r}, "
                f"schema {wanted}",
                requirement=_REQUIREMENT.get(str(name), "CHANNEL-15"),
            )


@case(
    id="CAT-02",
    requirements=("CONF-3",),
    title="the conformance.* family accepts every name of the grammar, however it looks",
)
async def cat_02(ctx: CaseContext) -> None:
    """Names of the family with many segments, digit-only segments, '_' and '-', and exactly
    128 characters are each subscribed, published on and delivered [CONF-3]."""
    base = ctx.channel("odd")
    names = [
        base + ".a.b.c.d.e.f",
        base + ".0.9-9.x_",
        base + ".z_-.7",
        (base + "." + "q" * 128)[:128],
    ]
    a = await ctx.client("A")
    for name in names:
        for reply in (await a.subscribe(name, ok=False),):
            if reply.get("type") != "ack":
                raise CaseFailed(
                    f"subscribe to {name!r} (a valid name of the family) answered {encode(reply)}",
                    requirement="CONF-3",
                )
        mark = new_mark(ctx)
        reply = await a.publish(name, {"mark": mark}, ok=False)
        if reply.get("type") != "ack":
            raise CaseFailed(
                f"publish on {name!r} (a valid name of the family) answered {encode(reply)}",
                requirement="CONF-3",
            )
        await wait_marks(a, name, [mark], timeout=ctx.timeout, requirement="CONF-3")
