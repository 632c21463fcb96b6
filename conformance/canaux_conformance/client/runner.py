"""Run the client cases against one adapter command and collect a :class:`RunResult`.

The mirror of :mod:`canaux_conformance.runner` for clients (issue 12): the run first starts the
adapter once to read its ``ready`` (client name, version, backoff), then runs each selected case
with a fresh adapter process and a fresh scripted server. Verdicts, exit statuses and reports are
the server mode's; an adapter that breaks its protocol gives ``error``, never ``fail``.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from canaux_conformance.cases import Case, budget_named, load_suites, new_run_id, run_seed
from canaux_conformance.client.adapter import Adapter, AdapterError, AdapterInfo
from canaux_conformance.client.cases import CLIENT_SUITES, all_client_cases
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import CaseResult, RunResult
from canaux_conformance.runner import (
    Progress,
    RunOptions,
    broken_suite,
    case_seed,
    judge,
    run_each,
    select_cases,
)
from canaux_conformance.target import TargetError
from canaux_conformance.transcript import Transcript

__all__ = [
    "REFERENCE_ADAPTER",
    "ClientRunConfig",
    "probe_adapter",
    "profile_skip",
    "run_client",
    "run_client_case",
]

REFERENCE_ADAPTER: tuple[str, ...] = (sys.executable, "-m", "canaux.conformance_adapter")
"""The reference client's adapter, run when no command is given (a command line: the suite
never imports the reference)."""

_STDERR_SHOWN = 4000
_AT_ONCE = 3
"""Client cases run at once (each is a scripted server and an adapter process)."""


@dataclass
class ClientRunConfig(RunOptions):
    """Everything a client run needs; the CLI fills it from its options."""

    argv: Sequence[str] | None = None
    """The adapter command; ``None``: :data:`REFERENCE_ADAPTER`."""

    @property
    def command(self) -> tuple[str, ...]:
        return tuple(self.argv) if self.argv else REFERENCE_ADAPTER


async def probe_adapter(argv: Sequence[str], timeout: float) -> AdapterInfo:
    """Start the adapter once for its ``ready``; a :class:`TargetError` if it cannot start."""
    adapter = Adapter(argv, Transcript(), timeout=timeout, name="probe")
    try:
        return await adapter.start()
    except AdapterError as exc:
        detail = adapter.stderr.strip()[-_STDERR_SHOWN:]
        raise TargetError(f"{exc.message}" + (f"\n{detail}" if detail else "")) from exc
    finally:
        await adapter.aclose()


async def run_client_case(case: Case, ctx: ClientCaseContext, *, case_timeout: float) -> CaseResult:
    """Run one client case and derive its verdict (:func:`~canaux_conformance.runner.judge`,
    as the server runner does); the adapter's stderr goes into the transcript of a case that
    did not pass."""
    judged = await judge(
        case,
        ctx,
        case_timeout=case_timeout,
        close_within=ctx.timeout * 3,
        party="client",
        root_cause=lambda _: ctx.first_violation(),
    )
    stderr = ctx.stderr()
    if stderr and judged.verdict is not Verdict.PASS:
        with contextlib.suppress(RuntimeError):
            ctx.transcript.note(stderr[-_STDERR_SHOWN:], client="adapter")
    return judged.result(case, ctx.transcript)


def profile_skip(case: Case, info: AdapterInfo) -> str | None:
    """Why ``case`` does not apply to the client: its profile is not one the adapter's
    ``ready.profiles`` declared (an SSE-only client has no WebSocket cases); ``None`` if it does."""
    if info.profiles is None or case.profile in info.profiles:
        return None
    return (
        f"not applicable: the adapter declares a client of profile(s) "
        f"{', '.join(info.profiles)} only (ready.profiles); this case is of profile {case.profile}"
    )


async def run_client(config: ClientRunConfig, *, progress: Progress | None = None) -> RunResult:
    """A whole client run: probe the adapter, select the cases, run each with a fresh adapter."""
    budget = budget_named(config.budget)
    progress = progress or Progress()
    seed = run_seed(config.seed)
    started = time.perf_counter()
    argv = config.command
    info = await probe_adapter(argv, config.timeout)
    broken = load_suites(CLIENT_SUITES)
    cases = select_cases(all_client_cases(), only=config.only, exclude=config.exclude)
    result = RunResult(
        target_url="client: " + " ".join(argv),
        run_id=new_run_id(),
        seed=seed,
        budget=budget.name,
        strict=config.strict,
        started=datetime.now(UTC),
        profiles=list(info.profiles) if info.profiles is not None else ["core"],
        reference_server=config.argv is None,
        party="client",
        client=info.as_dict(),
        notes=[
            f"client: {info.client_name} {info.client_version}",
            f"adapter: {' '.join(argv)}",
            f"declared backoff: base {info.base_ms} ms, cap {info.cap_ms} ms"
            + (" (configurable)" if info.configurable else " (fixed: timing cases are slow)"),
            *(
                [f"declared profiles: {', '.join(info.profiles)} (the other cases do not apply)"]
                if info.profiles is not None
                else []
            ),
        ],
    )
    progress.run_started(result, cases)
    result.results = [
        broken_suite(name, trace, id_prefix="CL-SUITE-", what="client suite")
        for name, trace in sorted(broken.items())
    ]

    def make_context(case: Case) -> ClientCaseContext:
        return ClientCaseContext(
            adapter_argv=argv,
            case_id=case.id,
            seed=case_seed(seed, case.id),
            budget=budget,
            timeout=config.timeout,
        )

    async def run_one(case: Case) -> CaseResult:
        timeout = budget.timeout_for(case, config.case_timeout)
        return await run_client_case(case, make_context(case), case_timeout=timeout)

    # Cases that measure delays run alone, after the others (client_case(timing=True)); a case
    # of a profile the adapter did not declare starts no adapter process (decided by ready).
    result.results += await run_each(
        cases,
        run_one,
        skip=lambda case: profile_skip(case, info),
        progress=progress,
        at_once=_AT_ONCE,
        waiting_first=True,
    )
    result.duration = time.perf_counter() - started
    return result
