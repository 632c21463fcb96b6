"""Every requirement the wire can show on a server has a case, and every new case can fail (#9).

The requirement index (schemas/requirements.json, from spec/) says whom each requirement binds
and whether it can be observed on the wire. The suite judges servers, so each testable MUST
whose party is ``server`` or ``both`` must be named by at least one case — except the gaps
listed below, each with the reason no case checks it yet. The list can only shrink: a gap that
gets a case must leave it, and a new requirement without a case fails this test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import canaux_schemas
from canaux_conformance.cases import all_cases

if TYPE_CHECKING:
    from tests.conformance.broken.faults import BROKEN_SERVERS
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.faults import BROKEN_SERVERS

__all__: list[str] = []

KNOWN_GAPS: dict[str, str] = {}
"""Server/both MUST requirements the wire can show that no case names yet, and why."""

PENDING: dict[str, str] = {}
"""Requirements other work of this push added or rewrote; not held to the ratchet above (their
cases land with that work), but still listed by the compliance matrix as having no case."""

NEW_MODULES = {
    "origin",
    "frame_form",
    "frame_ids",
    "catalogue",
    "tolerance",
    "closing",
    "chat_order",
    "queue_rules",
    "publish_checks",
    "session_lifecycle",
    "progress_checks",
    "check_order",
    "buffer_bound",
    "sse_errors",
    "chat_frame_limit",
    "asyncapi_document",
    "exact_entries",
    "access_policy",
    "sse_takeover",
    "memory_bounds",
    "resume_race",
    "slow_requests",
    "slow_consumer",
    "detached_total",
    "payload_pointers",
    "sse_snapshot",
}
"""Suite modules written for #9: each of their cases has a broken server that it catches."""


def _index() -> dict[str, dict[str, object]]:
    return {entry["id"]: entry for entry in canaux_schemas.requirements()}


def _named() -> set[str]:
    return {req for case in all_cases() for req in case.requirements}


def test_every_wire_testable_server_must_has_a_case() -> None:
    wanted = {
        rid
        for rid, entry in _index().items()
        if entry["party"] in ("server", "both") and entry["level"] == "MUST" and entry["testable"]
    }
    uncovered = wanted - _named()
    assert sorted(uncovered - set(KNOWN_GAPS) - set(PENDING)) == [], "server MUSTs no case names"
    assert sorted(set(KNOWN_GAPS) - uncovered) == [], "covered now: remove from KNOWN_GAPS"


def test_the_gaps_are_few_and_explained() -> None:
    assert len(KNOWN_GAPS) <= 12
    assert all(len(reason) > 40 for reason in KNOWN_GAPS.values())


def test_cases_name_only_requirements_the_wire_can_show() -> None:
    index = _index()
    unknown = sorted(r for r in _named() if r not in index)
    untestable = sorted(r for r in _named() if r in index and not index[r]["testable"])
    assert unknown == []
    assert untestable == [], "a case cannot judge what is not on the wire"


def test_every_new_case_has_a_broken_server_that_it_catches() -> None:
    targeted = {case for broken in BROKEN_SERVERS for case in broken.cases}
    new = {c.id for c in all_cases() if c.module in NEW_MODULES}
    assert len(new) >= 15
    assert sorted(new - targeted) == []


def test_each_new_case_is_caught_on_a_requirement_it_names() -> None:
    """Some broken server aimed at each new case breaks one of the case's own requirements."""
    for case in (c for c in all_cases() if c.module in NEW_MODULES):
        aimed = [b for b in BROKEN_SERVERS if case.id in b.cases]
        assert any(b.breaks & set(case.requirements) for b in aimed), case.id
