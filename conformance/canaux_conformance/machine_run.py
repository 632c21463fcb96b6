"""Running a Hypothesis state machine as a conformance case: budget, seed, shrinking, findings.

:func:`run_as_case` runs a :class:`~hypothesis.stateful.RuleBasedStateMachine` with the run's
budget and seed and turns a failure into :class:`~canaux_conformance.outcomes.CaseFailed`
whose message holds the minimal steps and the transcript (see :func:`describe_failure`).
Shared by the delivery machine (:mod:`canaux_conformance.machine`) and the playqueue cases.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.wire import Transcript

__all__ = ["MachineBudget", "describe_failure", "run_as_case"]


@dataclass(frozen=True)
class MachineBudget:
    """How many examples and steps, and how long shrinking may take."""

    max_examples: int
    step_count: int
    shrink_seconds: float


@contextlib.contextmanager
def _shrink_limit(seconds: float) -> Iterator[None]:
    """Bound Hypothesis's shrinking: every shrink step here is real network traffic."""
    from hypothesis.internal.conjecture import engine

    previous = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if previous is None:
        yield
        return
    engine.MAX_SHRINKING_SECONDS = int(seconds)
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = previous


def _first_case_failure(exc: BaseException) -> CaseFailed | None:
    if isinstance(exc, CaseFailed):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_case_failure(inner)
            if found is not None:
                return found
    return None


# Hypothesis's advice when shrinking hits its time limit; here the limit is ours (_shrink_limit).
_HYPOTHESIS_NAG = re.compile(r"five minutes working to shrink|PLEASE REPORT THIS|improve shrinking")


def run_as_case(
    machine: type[RuleBasedStateMachine],
    budget: MachineBudget,
    *,
    seed: int,
    transcript: Callable[[], Transcript | None],
    first_failure: Callable[[], tuple[CaseFailed, Transcript] | None] = lambda: None,
    settings_overrides: Mapping[str, Any] | None = None,
) -> None:
    """Run a stateful test with the run's budget and seed; turn a failure into :class:`CaseFailed`.

    The message holds the failure, the minimal (shrunk) steps as Hypothesis prints them, and
    ``transcript()`` — the transcript of the last example run, which is the minimal one:
    Hypothesis replays it last to report it.
    """
    # The attribute hypothesis.seed() sets; run_state_machine_as_test reads it from the class.
    machine._hypothesis_internal_use_seed = seed
    values: dict[str, Any] = {
        "max_examples": budget.max_examples,
        "stateful_step_count": budget.step_count,
        "deadline": None,
        "database": None,
        "print_blob": False,
        "report_multiple_bugs": False,
        "suppress_health_check": list(HealthCheck),
        "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    }
    values.update(settings_overrides or {})
    report: list[str] = []
    try:
        with (
            with_reporter(lambda text: report.append(str(text))),
            _shrink_limit(budget.shrink_seconds),
        ):
            run_state_machine_as_test(machine, settings=settings(**values))
    except BaseException as exc:
        failure = _first_case_failure(exc)
        first = first_failure()
        if failure is None and isinstance(exc, Flaky) and first is not None:
            # The server behaved differently when the same steps were replayed (timing): no
            # minimal example exists. Report the first failure seen, with its own transcript.
            found, where = first
            raise CaseFailed(
                f"{found.message}\n\n(seed {seed}; the failure did not reproduce when Hypothesis "
                f"replayed the same steps, so it was not shrunk: {type(exc).__name__})\n\n"
                f"transcript of the example that failed:\n{where.render()}",
                requirement=found.requirement,
            ) from exc
        if failure is None:
            raise
        flaky = isinstance(exc, Flaky)
        # Hypothesis attaches the minimal steps to the exception as notes (older versions
        # print them through the reporter). Repeated lines are repeated steps: keep them all.
        notes = getattr(exc, "__notes__", None) or getattr(failure, "__notes__", None) or []
        steps = "\n".join(
            str(line)
            for line in [*notes, *report]
            if str(line).strip() and not _HYPOTHESIS_NAG.search(str(line))
        )
        if steps.strip() and any(_HYPOTHESIS_NAG.search(str(line)) for line in [*notes, *report]):
            steps += f"\n(shrinking stopped at its {budget.shrink_seconds:g}s budget)"
        shown = transcript()
        if flaky and first is not None:
            shown = first[1]
        message = describe_failure(
            failure.message,
            seed=seed,
            steps=steps,
            flaky=flaky,
            transcript=shown.render() if shown is not None else "",
        )
        raise CaseFailed(message, requirement=failure.requirement) from exc


def describe_failure(message: str, *, seed: int, steps: str, flaky: bool, transcript: str) -> str:
    """The finding of a failed machine run: the failure, the minimal steps when there are
    some, and the transcript of the example shown.

    A failure that did not reproduce when Hypothesis replayed its steps (timing) has no
    minimal example: the message says so and shows the example that failed, never a heading
    followed by nothing.
    """
    shown = transcript or "(no transcript was recorded)"
    if flaky or not steps.strip():
        why = (
            "the failure did not reproduce when Hypothesis replayed the same steps, so it was "
            "not shrunk"
            if flaky
            else "Hypothesis reported no steps"
        )
        return (
            f"{message}\n\n(seed {seed}; {why})\n\ntranscript of the example that failed:\n{shown}"
        )
    return (
        f"{message}\n\nminimal example (seed {seed}):\n{steps}\n\n"
        f"transcript of that example:\n{shown}"
    )
