"""Run the client cases against one adapter command and collect a :class:`RunResult`.

The mirror of :mod:`canaux_conformance.runner` for clients (issue 12): the run first starts the
adapter once to read its ``ready`` (client name, version, backoff), then runs each selected case
with a fresh adapter process and a fresh scripted server. Verdicts, exit statuses and reports are
the server mode's; an adapter that breaks its protocol gives ``error``, never ``fail``.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
import traceback
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from canaux_conformance.cases import BUDGETS, Case, load_suites, new_run_id, requirement_for
from canaux_conformance.client.adapter import Adapter, AdapterError, AdapterInfo
from canaux_conformance.client.cases import CLIENT_SUITES, all_client_cases
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.outcomes import CaseFailed, CaseSkipped, SuiteError, Verdict
from canaux_conformance.results import CaseResult, RunResult
from canaux_conformance.runner import (
    Progress,
    broken_suite,
    case_result,
    is_must,
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
class ClientRunConfig:
    """Everything a client run needs; the CLI fills it from its options."""

    argv: Sequence[str] | None = None
    """The adapter command; ``None``: :data:`REFERENCE_ADAPTER`."""
    only: Sequence[str] = ()
    exclude: Sequence[str] = ()
    budget: str = "default"
    seed: int | None = None
    strict: bool = False
    timeout: float = 5.0
    case_timeout: float | None = None

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


def _case_seed(seed: int, case_id: str) -> int:
    return (seed ^ zlib.crc32(case_id.encode())) & 0xFFFFFFFF


async def run_client_case(case: Case, ctx: ClientCaseContext, *, case_timeout: float) -> CaseResult:
    """Run one client case and derive its verdict (as the server runner does)."""
    started = time.perf_counter()
    verdict = Verdict.PASS
    message = ""
    requirement: str | None = None
    trace: str | None = None
    applicable = True
    try:
        try:
            async with asyncio.timeout(case_timeout):
                await case.fn(ctx)
                ctx.check()
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(ctx.timeout * 3):
                    await ctx.aclose()
        ctx.check()  # frames that arrived while the case closed its connections
    except AdapterError as exc:
        verdict = Verdict.ERROR
        message = f"the adapter broke its protocol, not the client: {exc.message}"
        trace = traceback.format_exc()
    except CaseFailed as failure:
        # A frame the audit rejected is the root cause: the case often failed because of it.
        failure = ctx.first_violation() or failure
        requirement = requirement_for(failure, case)
        message = failure.message
        verdict = Verdict.FAIL if is_must(case, requirement) else Verdict.NON_STRICT
    except CaseSkipped as skipped:
        verdict, message, applicable = Verdict.SKIPPED, skipped.reason, skipped.applicable
    except SuiteError as exc:
        verdict = Verdict.ERROR
        message = f"the suite broke, not the client: {exc.message}"
        trace = traceback.format_exc()
    except TimeoutError:
        verdict = Verdict.ERROR
        message = f"the case did not finish within its {case_timeout:g}s budget"
        trace = traceback.format_exc()
    except Exception as exc:
        verdict = Verdict.ERROR
        message = f"the suite broke: {type(exc).__name__}: {exc}"
        trace = traceback.format_exc()
    stderr = ctx.stderr()
    if stderr and verdict is not Verdict.PASS:
        with contextlib.suppress(RuntimeError):
            ctx.transcript.note(stderr[-_STDERR_SHOWN:], client="adapter")
    return case_result(
        case,
        verdict,
        message=message,
        requirement=requirement,
        started=started,
        transcript=ctx.transcript,
        trace=trace,
        applicable=applicable,
    )


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
    if config.budget not in BUDGETS:
        raise ValueError(f"unknown budget {config.budget!r}; known: {', '.join(BUDGETS)}")
    budget = BUDGETS[config.budget]
    progress = progress or Progress()
    seed = config.seed if config.seed is not None else secrets.randbelow(2**32)
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
    outcomes: dict[str, CaseResult] = {}
    gate = asyncio.Semaphore(_AT_ONCE)

    async def one(case: Case) -> None:
        progress.case_started(case)
        reason = profile_skip(case, info)
        if reason is not None:  # decided by ready: no adapter process is started for it
            outcomes[case.id] = case_result(case, Verdict.SKIPPED, message=reason, applicable=False)
            progress.case_finished(outcomes[case.id])
            return
        ctx = ClientCaseContext(
            adapter_argv=argv,
            case_id=case.id,
            seed=_case_seed(seed, case.id),
            budget=budget,
            timeout=config.timeout,
        )
        timeout = config.case_timeout or case.timeout or budget.case_timeout
        outcome = await run_client_case(case, ctx, case_timeout=timeout)
        outcomes[case.id] = outcome
        progress.case_finished(outcome)

    async def gated(case: Case) -> None:
        async with gate:
            await one(case)

    # Cases that measure delays run alone, after the others (client_case(timing=True)).
    await asyncio.gather(*(gated(c) for c in cases if c.waits))
    for case in cases:
        if not case.waits:
            await one(case)
    result.results += [outcomes[c.id] for c in cases]
    result.duration = time.perf_counter() - started
    return result
