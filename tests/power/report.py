"""The power report: kill rate, survivors, stillborn mutants (printed, and as JSON).

Kill rate = killed / (killed + survived). Stillborn mutants (the server never started) are
counted apart, outside the ratio. Survivors that :mod:`tests.power.equivalents` judges
equivalent (no behaviour the wire can see changed) or out of the suite's reach by design are
listed with the reason and left out of the second ratio, the one the target (≥ 95 %) is
about: killed / (killed + survived − judged).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.power import equivalents
from tests.power.equivalents import Equivalent, judged_equivalent
from tests.power.mutations import Mutation
from tests.power.trials import Outcome, Trial

__all__ = ["Score", "format_report", "rejudge", "score", "to_json"]


@dataclass(frozen=True)
class Score:
    killed: int
    survived: int
    stillborn: int
    equivalent: int

    @property
    def judged(self) -> int:
        """Mutants the suite could judge: killed or survived."""
        return self.killed + self.survived

    @property
    def kill_rate(self) -> float | None:
        return self.killed / self.judged if self.judged else None

    @property
    def non_equivalent_kill_rate(self) -> float | None:
        relevant = self.judged - self.equivalent
        return self.killed / relevant if relevant else None


def score(trials: Sequence[Trial], sources: dict[str, str]) -> Score:
    """Count the outcomes; ``sources``: original text of each mutated file, by path."""
    count = {outcome: 0 for outcome in Outcome}
    equivalent = 0
    for trial in trials:
        count[trial.outcome] += 1
        if trial.outcome is Outcome.SURVIVED and _equivalence(trial, sources) is not None:
            equivalent += 1
    return Score(
        killed=count[Outcome.KILLED],
        survived=count[Outcome.SURVIVED],
        stillborn=count[Outcome.STILLBORN],
        equivalent=equivalent,
    )


def _equivalence(trial: Trial, sources: dict[str, str]) -> Equivalent | None:
    mutation = trial.mutation
    if mutation is None:
        return None
    return judged_equivalent(mutation, sources[mutation.path])


def _ran(trial: Trial, control: Trial) -> bool:
    """Whether the control server executed the statement ``trial`` mutates."""
    mutation = trial.mutation
    assert mutation is not None
    return mutation.statement_line in control.executed.get(mutation.path, frozenset())


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _describe(trial: Trial, sources: dict[str, str]) -> list[str]:
    mutation = trial.mutation
    assert mutation is not None
    old, new = mutation.diff(sources[mutation.path])
    area = ", ".join(mutation.cites) or "no requirement quoted nearby"
    return [
        f"{mutation.path}:{mutation.line}  [{mutation.operator}] in {mutation.scope}  ({area})",
        f"    - {old}",
        f"    + {new}",
    ]


def format_report(
    trials: Sequence[Trial],
    sources: dict[str, str],
    *,
    seed: int,
    control: Trial,
) -> str:
    """The text ``make power`` prints at the end."""
    result = score(trials, sources)
    lines = [
        "",
        f"power: {len(trials)} mutants (seed {seed}): {result.killed} killed, "
        f"{result.survived} survived, {result.stillborn} stillborn",
        f"kill rate: {_percent(result.kill_rate)} of {result.judged} judged mutants; "
        f"{_percent(result.non_equivalent_kill_rate)} of the "
        f"{result.judged - result.equivalent} not judged equivalent or out of reach",
    ]
    survivors = [t for t in trials if t.outcome is Outcome.SURVIVED]
    if survivors:
        lines += ["", "survivors (the suite passed with this change in the server):"]
        for trial in survivors:
            lines += _describe(trial, sources)
            equivalent = _equivalence(trial, sources)
            if equivalent is not None:
                lines.append(f"    {equivalent.kind}: {equivalent.reason}")
            if not _ran(trial, control):
                lines.append("    note: this statement never ran while the suite ran (control)")
            if trial.note:
                lines.append(f"    note: {trial.note}")
            newly_skipped = sorted(set(control.passed) & set(trial.skipped))
            if newly_skipped:
                lines.append(
                    f"    note: {len(newly_skipped)} case(s) passed on the control but were "
                    f"skipped here: {', '.join(newly_skipped[:6])}"
                )
                first = newly_skipped[0]
                lines.append(f"      {first}: {trial.messages.get(first) or 'no reason given'}")
    stillborn = [t for t in trials if t.outcome is Outcome.STILLBORN]
    if stillborn:
        lines += ["", "stillborn (the server did not start; not in the ratio):"]
        for trial in stillborn:
            lines += _describe(trial, sources)[:1]
            lines.append(f"    {trial.how}")
    return "\n".join(lines)


def to_json(
    trials: Sequence[Trial],
    sources: dict[str, str],
    *,
    seed: int,
    n: int,
    control: Trial,
    path: Path,
) -> None:
    """Write every trial, with its mutation and killing cases, to ``path``."""
    result = score(trials, sources)
    entries = []
    for trial in trials:
        mutation = trial.mutation
        assert mutation is not None
        old, new = mutation.diff(sources[mutation.path])
        equivalent = _equivalence(trial, sources)
        entries.append(
            {
                "file": mutation.path,
                "line": mutation.line,
                "operator": mutation.operator,
                "scope": mutation.scope,
                "requirements": list(mutation.cites),
                "before": old,
                "after": new,
                "outcome": trial.outcome.value,
                "how": trial.how,
                "killed_by": list(trial.killers),
                "equivalent": f"{equivalent.kind}: {equivalent.reason}" if equivalent else None,
                "ran_under_suite": _ran(trial, control),
                "note": trial.note,
                "not_passed": trial.messages,
                "duration_s": round(trial.duration, 1),
            }
        )
    document = {
        "seed": seed,
        "n": n,
        "killed": result.killed,
        "survived": result.survived,
        "stillborn": result.stillborn,
        "equivalent": result.equivalent,
        "kill_rate": result.kill_rate,
        "non_equivalent_kill_rate": result.non_equivalent_kill_rate,
        "mutants": entries,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def rejudge(path: Path) -> str:
    """The figures of a saved report (``power.json``) judged again with today's
    :mod:`tests.power.equivalents`: for a survivor judged after its run, no rerun needed.

    The mutants stay as they were run (same tree); only the judgement changes.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    mutants = document["mutants"]
    count = {outcome.value: 0 for outcome in Outcome}
    equivalent = 0
    open_survivors: list[str] = []
    for entry in mutants:
        count[entry["outcome"]] += 1
        if entry["outcome"] != Outcome.SURVIVED.value:
            continue
        mutation = Mutation(
            entry["file"], entry["line"], entry["operator"], 0, 0, "", entry["scope"]
        )
        judged = next(
            (
                e
                for e in equivalents.EQUIVALENTS
                if e.matches(mutation, entry["before"], entry["after"])
            ),
            None,
        )
        if judged is not None:
            equivalent += 1
        else:
            open_survivors += [
                f"{entry['file']}:{entry['line']}  [{entry['operator']}] in {entry['scope']}",
                f"    - {entry['before']}",
                f"    + {entry['after']}",
            ]
    result = Score(
        killed=count[Outcome.KILLED.value],
        survived=count[Outcome.SURVIVED.value],
        stillborn=count[Outcome.STILLBORN.value],
        equivalent=equivalent,
    )
    lines = [
        f"{path} (seed {document['seed']}), judged again: {result.killed} killed, "
        f"{result.survived} survived ({result.equivalent} judged equivalent or out of reach), "
        f"{result.stillborn} stillborn",
        f"kill rate: {_percent(result.kill_rate)} of {result.judged} judged mutants; "
        f"{_percent(result.non_equivalent_kill_rate)} of the "
        f"{result.judged - result.equivalent} not judged equivalent or out of reach",
    ]
    if open_survivors:
        lines += ["survivors not judged equivalent:", *open_survivors]
    return "\n".join(lines)
