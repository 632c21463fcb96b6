"""Proof of power: each deliberately broken server is caught, citing what it breaks (index.md).

Each broken server is the reference server behind a fault-injecting relay
(``tests/conformance/broken/``). The suite runs, end to end through its runner, only the
cases meant to catch that fault (quick budget, fixed seed); at least one must FAIL and cite
one of the requirement IDs the fault breaks. The same cases must all PASS against the
reference server behind the same relay with no fault: a check that cannot fail, or one that
fails a correct server, is a defect of the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pytest

from canaux.commands.serve import accept_tokens
from canaux.protocol.limits import Limits
from canaux.server.config import ServerConfig
from canaux.server.testing import running_server
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import RunResult
from canaux_conformance.runner import RunConfig, run

if TYPE_CHECKING:
    from tests.conformance.broken.faults import (
        BROKEN_SERVERS,
        BrokenServer,
        ChatReplyLeaksToAnotherSession,
        CopiesOneEventVerbatim,
        LeaksAfterUnsubscribe,
        all_cases,
    )
    from tests.conformance.broken.frame_proxy import Fault, FrameProxy
    from tests.conformance.broken.gap_faults import PROOF_TOKENS, SETUPS
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.faults import (
        BROKEN_SERVERS,
        BrokenServer,
        ChatReplyLeaksToAnotherSession,
        CopiesOneEventVerbatim,
        LeaksAfterUnsubscribe,
        all_cases,
    )
    from broken.frame_proxy import Fault, FrameProxy
    from broken.gap_faults import PROOF_TOKENS, SETUPS

PUBLISH_TOKEN = "proof-of-power"
SEED = 20261126
WAIT = 3.0
"""Seconds per wait: generous for a loaded machine, short enough that missing events fail fast."""

DETACHED_TOTAL = 4
"""The bound on detached sessions in all of the "detached-total" setup (LIMIT-13)."""

pytestmark = pytest.mark.slow


async def _run_suite(
    fault: Fault, cases: Sequence[str], seed: int | None = SEED, *, setup: str = "open"
) -> RunResult:
    # A 1 s heartbeat and a 3 s resume window let the heartbeat and window-expiry cases run
    # within the quick budget; everything else is the default.
    config = ServerConfig(
        conformance=True,
        publish_token=PUBLISH_TOKEN,
        limits=Limits(
            heartbeat_ms=1000,
            resume_window_ms=3000,
            resume_buffer=64 if setup == "small-buffer" else Limits().resume_buffer,
            **(
                {"max_detached_sessions": DETACHED_TOTAL, "max_detached_total": DETACHED_TOTAL}
                if setup == "detached-total"
                else {}
            ),
        ),
        authenticate=accept_tokens(PROOF_TOKENS) if setup == "authenticated" else None,
    )
    tokens = PROOF_TOKENS if setup == "authenticated" else (None, None)
    async with (
        running_server(config) as server,
        FrameProxy("127.0.0.1", server.port, fault) as relay,
    ):
        return await run(
            RunConfig(
                url=relay.ws_url,
                publish_url=f"http://127.0.0.1:{relay.port}/publish",
                publish_token=PUBLISH_TOKEN,
                only=tuple(cases),
                budget="quick",
                seed=seed,
                timeout=WAIT,
                token=tokens[0],
                other_token=tokens[1],
                max_detached_total=DETACHED_TOTAL if setup == "detached-total" else None,
            )
        )


def _summary(result: RunResult) -> str:
    return "\n".join(
        f"{r.id}: {r.verdict} [{r.requirement}] {r.message[:300]}" for r in result.results
    )


@pytest.mark.parametrize("broken", BROKEN_SERVERS, ids=lambda b: b.name)
def test_broken_server_is_caught_citing_the_requirement_it_breaks(broken: BrokenServer) -> None:
    result = asyncio.run(_run_suite(broken.fault(), broken.all_cases, setup=broken.setup))
    summary = _summary(result)
    assert sorted(r.id for r in result.results) == sorted(broken.all_cases), summary
    assert not [r for r in result.results if r.verdict is Verdict.ERROR], summary
    failed = {r.id: r for r in result.results if r.verdict is Verdict.FAIL}
    assert failed, f"{broken.name} ({broken.fault.description}) was not caught:\n{summary}"
    cited = {r.requirement for r in failed.values()}
    assert cited & broken.breaks, (
        f"{broken.name} caught, but citing {sorted(c or '?' for c in cited)}, "
        f"not one of {sorted(broken.breaks)}:\n{summary}"
    )
    if broken.machine:
        machine = failed.get("STATE-01")
        assert machine is not None, f"the stateful machine missed {broken.name}:\n{summary}"
        assert machine.requirement in broken.breaks, summary
        # The finding comes with the steps and the frames of the (minimal) failing example.
        assert "state.start(" in machine.message or "did not reproduce" in machine.message
        assert "replay (frames sent, per client):" in machine.message


# Leaks to a connection the case does not watch: the stream audit catches them in EVERY case
# where they happen, whatever the seed (#9 item 4), not only in the one case looking for them.
UNWATCHED_LEAKS = (
    (CopiesOneEventVerbatim, ("ORDER-01", "ROUTE-03")),
    (LeaksAfterUnsubscribe, ("ISO-03", "FORM-01")),
    (ChatReplyLeaksToAnotherSession, ("ISO-04", "CHAT-ACK-01")),
)


@pytest.mark.parametrize(("fault", "cases"), UNWATCHED_LEAKS, ids=lambda v: getattr(v, "name", ""))
def test_a_leak_is_caught_by_every_case_it_happens_in_with_any_seed(
    fault: type[Fault], cases: tuple[str, ...]
) -> None:
    broken = next(b for b in BROKEN_SERVERS if b.fault is fault)
    result = asyncio.run(_run_suite(fault(), cases, seed=None))
    summary = f"seed {result.seed}\n" + _summary(result)
    assert [r.id for r in result.results if r.verdict is Verdict.FAIL] == sorted(cases), summary
    assert all(r.requirement in broken.breaks for r in result.results), summary


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_reference_behind_a_transparent_relay_passes_every_case_used(setup: str) -> None:
    used = all_cases(setup)
    result = asyncio.run(_run_suite(Fault(), used, setup=setup))
    summary = _summary(result)
    assert sorted(r.id for r in result.results) == sorted(used), summary
    assert all(r.verdict is Verdict.PASS for r in result.results), summary


def test_there_are_at_least_twelve_broken_servers_with_distinct_faults() -> None:
    names = [b.name for b in BROKEN_SERVERS]
    assert len(names) >= 12
    assert len(set(names)) == len(names)
    assert all(b.cases and b.breaks for b in BROKEN_SERVERS)
