"""``python -m tests.power``: the suite's power, measured by mutation (``make power``).

1. A control trial runs the suite against an unmutated copy of the reference; it must pass
   cleanly (one retry; else the measure means nothing and the run stops, exit 2). Its server
   runs under ``coverage``: the files of protocol/ and server/ in which it runs no function
   body, and that no such file imports, are out of the suite's reach by design (the client's
   state machine, the in-process test helper) and are not mutated.
2. Every mutation of the remaining files is listed (:mod:`tests.power.mutations`), in a
   stable order; ``--seed`` shuffles the list and the first ``--n`` that check out are run.
   The same seed on the same tree gives the same mutants; ``--pick`` reruns some of them.
3. Each mutant is one trial (:mod:`tests.power.trials`); the report (:mod:`tests.power.report`)
   prints the kill rate and every survivor, and writes ``power.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.power.mutations import ModuleMutations, Mutation
from tests.power.report import format_report, rejudge, to_json
from tests.power.trials import (
    IMPORTED,
    Outcome,
    Trial,
    TrialConfig,
    confirmed,
    reached_files,
    run_trial,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reference" / "canaux"
MUTATED = ("protocol", "server")
"""Sub-packages of ``canaux`` whose files are mutated (the core and the server)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.power",
        description="Apply N random single mutations to the reference core and server, run "
        "the conformance suite (--quick) against each, print the kill rate and the survivors.",
    )
    parser.add_argument("--n", type=int, default=30, help="number of mutants (default 30)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (default: random)")
    parser.add_argument(
        "--suite-seed", type=int, default=1, help="the suite's --seed for every mutant (1)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="mutants run at once (default 1; see the guide)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds for one suite run against a mutant (default: 4 x the control, >= 90)",
    )
    parser.add_argument(
        "--pick",
        type=int,
        action="append",
        default=[],
        metavar="K",
        help="run only the K-th mutant (1-based) of the sample; repeatable",
    )
    parser.add_argument(
        "--find",
        action="append",
        default=[],
        metavar="TEXT",
        help="instead of sampling, run every mutation whose 'FILE: BEFORE -> AFTER' contains "
        "each TEXT (repeatable), e.g. --find ijson.py --find 'MAX_DEPTH: Final = 63'",
    )
    parser.add_argument(
        "--find-any",
        action="append",
        default=[],
        metavar="TEXT",
        help="like --find, but a mutation needs to contain only one of these (repeatable): "
        "several survivors re-checked after one control run",
    )
    parser.add_argument(
        "--list", action="store_true", help="print the sampled mutants and exit (no run)"
    )
    parser.add_argument(
        "--report", type=Path, default=Path("reports/power/power.json"), help="JSON report path"
    )
    parser.add_argument(
        "--rejudge",
        type=Path,
        default=None,
        metavar="JSON",
        help="no run: score a saved report again with today's equivalents.py and exit",
    )
    return parser


def _known_requirements() -> list[str]:
    document = json.loads((ROOT / "schemas" / "requirements.json").read_text(encoding="utf-8"))
    return [str(r["id"]) for r in document["requirements"]]


def _files() -> list[Path]:
    return sorted(p for sub in MUTATED for p in (PACKAGE / sub).rglob("*.py"))


def sample(
    sources: dict[str, str],
    n: int,
    seed: int,
    known: list[str] | None = None,
    *,
    tables_only: frozenset[str] = frozenset(),
) -> list[Mutation]:
    """The first ``n`` verified mutations of ``sources`` in the order ``seed`` shuffles them;
    in the files of ``tables_only``, only sites outside function bodies."""
    modules = [ModuleMutations(sources[path], path, known=known) for path in sorted(sources)]
    every = [
        (module, index)
        for module in modules
        for index, mutation in enumerate(module.mutations)
        if not (mutation.in_function and mutation.path in tables_only)
    ]
    random.Random(seed).shuffle(every)
    chosen: list[Mutation] = []
    for module, index in every:
        if len(chosen) == n:
            break
        if module.verified(index):
            chosen.append(module.mutations[index])
    return chosen


def _found(
    sources: dict[str, str],
    texts: list[str],
    known: list[str] | None = None,
    *,
    any_of: list[str] | None = None,
) -> list[Mutation]:
    """Every checked mutation whose ``FILE: BEFORE -> AFTER`` contains each of ``texts`` and,
    when ``any_of`` is given, at least one of ``any_of``."""
    chosen: list[Mutation] = []
    for path in sorted(sources):
        module = ModuleMutations(sources[path], path, known=known)
        for index, mutation in enumerate(module.mutations):
            before, after = mutation.diff(sources[path])
            line = f"{path}: {before} -> {after}"
            wanted = all(text in line for text in texts) and (
                not any_of or any(text in line for text in any_of)
            )
            if wanted and module.verified(index):
                chosen.append(mutation)
    return chosen


def _trial(config: TrialConfig, mutation: Mutation) -> Trial:
    return confirmed(config, run_trial(config, mutation))


def _line(index: int, total: int, trial: Trial) -> str:
    mutation = trial.mutation
    assert mutation is not None
    where = f"{mutation.path}:{mutation.line} [{mutation.operator}]"
    if trial.outcome is Outcome.KILLED:
        detail = trial.how
        if trial.killers:
            more = f" (+{len(trial.killers) - 3})" if len(trial.killers) > 3 else ""
            detail += " by " + ", ".join(trial.killers[:3]) + more
    elif trial.outcome is Outcome.STILLBORN:
        detail = trial.how[:120]
    else:
        detail = ", ".join(mutation.cites)
    return (
        f"[{index:>{len(str(total))}}/{total}] {trial.outcome.value:<9} {where}  {detail}"
        f"  ({trial.duration:.0f}s)"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.rejudge is not None:
        print(rejudge(args.rejudge))
        return 0
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    print(f"power: seed {seed} (replay: make power POWER_SEED={seed} POWER_N={args.n})", flush=True)

    config = TrialConfig(package=PACKAGE, suite_seed=args.suite_seed)
    started = time.monotonic()
    control = run_trial(config, None, control=True)
    if control.outcome is not Outcome.SURVIVED or not control.passed:
        # One more try: on a loaded machine a timing case can miss once.
        print(f"control not clean ({control.how}: {', '.join(control.killers[:3])}), again")
        control = run_trial(config, None, control=True)
    if control.outcome is not Outcome.SURVIVED or not control.passed:
        print(f"the control (unmutated copy) is not clean: {control.outcome.value} {control.how}")
        print("\n".join(control.killers[:20]))
        return 2
    paths = [p.relative_to(PACKAGE.parent).as_posix() for p in _files()]
    every = {p: (PACKAGE.parent / p).read_text(encoding="utf-8") for p in paths}
    if not control.executed:
        print("the control server recorded no coverage: cannot tell what the suite reaches")
        return 2
    reached = reached_files(every, control.executed)
    unreached = [p for p in paths if p not in reached]
    sources = {p: every[p] for p in paths if p in reached}
    tables_only = frozenset(p for p, how in reached.items() if how == IMPORTED)
    print(
        f"control: {len(control.passed)} cases passed in {control.duration:.0f}s; "
        f"mutating {len(sources)} files of canaux.{{{','.join(MUTATED)}}}",
        flush=True,
    )
    if unreached:
        print(
            f"no function of these ran in the server (not mutated): {', '.join(unreached)}",
            flush=True,
        )

    if tables_only:
        print(
            "imported, but no function of theirs ran (module and class level only): "
            + ", ".join(sorted(tables_only)),
            flush=True,
        )
    if args.find or args.find_any:
        mutants = _found(sources, args.find, _known_requirements(), any_of=args.find_any)
    else:
        mutants = sample(sources, args.n, seed, _known_requirements(), tables_only=tables_only)
    if args.pick:
        mutants = [mutants[k - 1] for k in args.pick if 0 < k <= len(mutants)]
    if args.list:
        for index, mutation in enumerate(mutants, start=1):
            old, new = mutation.diff(sources[mutation.path])
            where = f"{mutation.path}:{mutation.line} [{mutation.operator}]"
            print(f"{index:>3} {where} {old!r} -> {new!r}")
        return 0
    timeout = args.timeout or max(90.0, 4 * control.duration)
    config = TrialConfig(package=PACKAGE, suite_seed=args.suite_seed, timeout=timeout)
    print(
        f"running {len(mutants)} mutants, {args.jobs} at a time, {timeout:.0f}s each at most",
        flush=True,
    )

    trials: list[Trial] = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(_trial, config, m) for m in mutants]
        for index, future in enumerate(futures, start=1):
            trial = future.result()
            trials.append(trial)
            print(_line(index, len(mutants), trial), flush=True)

    print(format_report(trials, sources, seed=seed, control=control))
    to_json(trials, sources, seed=seed, n=args.n, control=control, path=args.report)
    elapsed = time.monotonic() - started
    print(f"\nreport: {args.report} · {elapsed:.0f}s in all", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
