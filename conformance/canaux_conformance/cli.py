"""The ``canaux-conformance`` command line (spec "Conformance").

``canaux-conformance ws://host:port/ws`` checks that server; with no URL the suite starts the
reference server in a subprocess and checks it. Exit status: 0 (conformant) when no MUST
requirement failed (and, with ``--strict``, no SHOULD either) and every requirement of the tested
profiles was checked; 1 (not conformant) when one failed; 2 (incomplete) when the suite could not
reach the target, broke on a case, or could not check a requirement of a tested profile that
applies (spec/index.md "Conformance"); 64 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from canaux_conformance import __version__
from canaux_conformance.cases import BUDGETS, PROFILES, Case, all_cases
from canaux_conformance.report import LiveProgress, print_summary, write_reports
from canaux_conformance.results import RunResult
from canaux_conformance.runner import RunConfig, RunOptions, run
from canaux_conformance.target import TargetError

__all__ = [
    "add_case_globs",
    "add_run_options",
    "build_parser",
    "check_run_options",
    "config_from_args",
    "list_cases",
    "main",
    "run_and_report",
    "usage_error",
    "with_run_options",
]

EXIT_USAGE = 64

_EPILOG = """\
profiles:
  core       every server: transport, handshake, envelope, routing, ordering, resume, limits
  chat, playqueue, system, progress
             the standard channels; chosen when the welcome catalogue lists them
  sse        the SSE binding (GET /events); chosen when the endpoint answers
  legacy     /ws/chat and /api/ws; chosen when they accept a connection

verdicts: pass · fail (a MUST broken) · non-strict (a SHOULD not met) · skipped · error
(the suite itself broke). Exit 0 iff no MUST failed (no SHOULD either with --strict) and
every requirement of the tested profiles was checked (conformant); 1 if one failed (not
conformant); 2 if the target cannot be reached, a case errored, or a requirement of a
tested profile could not be checked, e.g. conformance.* is off (incomplete).
The suite stays inside the limits the welcome announces (rate, frame size, resume
window and buffer) and puts --token into every hello.

clusters: with --peer URL (another node of the same deployment; repeatable) the suite adds
the cases that need two nodes (PEER-*: CLUSTER-1..4 with the resume, takeover and re-send
requirements they exercise across nodes) and its stateful machine spreads its clients over
the nodes. Without --peer those cases do not run: the matrix shows their requirements as
"not checked: no peer given", which is neither a failure nor an incomplete run.

client mode: canaux-conformance client [-- COMMAND ARGS...] checks a client library
through its adapter (spec appendix "Client adapter protocol"); see
canaux-conformance client --help.

examples:
  canaux-conformance                                   # the reference server, in a subprocess
  canaux-conformance ws://localhost:8001/ws --quick
  canaux-conformance ws://localhost:8001/ws --only 'HS-*' --only 'ENV-*' --exclude 'ENV-LEGACY-*'
  canaux-conformance ws://127.0.0.1:8001/ws --peer ws://127.0.0.1:8002/ws   # a two-node cluster

in CI (JUnit for the test dashboard, the HTML report as an artifact):
  canaux-conformance ws://127.0.0.1:8001/ws --quick --strict \\
      --publish-url http://127.0.0.1:8001/publish --publish-token "$CANAUX_PUBLISH_TOKEN" \\
      --test-instance --junit build/conformance.xml --report-dir build/conformance
"""


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canaux-conformance",
        description=(
            "Check a Canaux server against the specification, requirement by requirement. "
            "Without URL, start the reference server on a free loopback port and check it."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "url", nargs="?", help="WebSocket URL of the server, e.g. ws://localhost:8001/ws"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    target = parser.add_argument_group("target")
    target.add_argument("--sse-url", help="SSE endpoint (default: <base>/events when it answers)")
    target.add_argument(
        "--publish-url",
        help="HTTP publish endpoint (POST /publish, spec http-publish.md), to drive the "
        "system/progress channels",
    )
    target.add_argument("--publish-token", help="bearer token for --publish-url")
    target.add_argument(
        "--test-instance",
        action="store_true",
        help="confirm the server has no real users: --publish-url puts test events on system "
        "and progress, which every subscriber sees (SLOW-02 alone some 17 MiB of system "
        "notices; refused without this flag)",
    )
    target.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="URL",
        help="WebSocket URL of another node of the same deployment (repeatable): adds the "
        "cluster cases (PEER-*) and spreads the stateful machine over the nodes",
    )
    target.add_argument("--token", help="hello.token the suite's clients present (an identity)")
    target.add_argument(
        "--other-token", help="a second, different identity for the SECURITY-2 resume cases"
    )
    target.add_argument(
        "--max-detached-total",
        type=int,
        metavar="N",
        help="the server's bound on detached sessions in all, which welcome does not announce "
        "(LIMIT-13); given, DETACH-01 checks that the one detached longest ago goes first",
    )
    target.add_argument(
        "--max-handshakes",
        type=int,
        metavar="N",
        help="the server's bound on connections in their opening handshake (request head not "
        "yet complete), which welcome does not announce (SECURITY-12); given, HS-14 opens N + 1 "
        "connections one after another and checks that none is refused with 503",
    )
    select = parser.add_argument_group("selection")
    select.add_argument(
        "--profile",
        action="append",
        type=_csv,
        metavar="P[,P…]",
        help=f"profiles to run ({', '.join(PROFILES)}); default: what the server offers",
    )
    add_case_globs(select, listed="the cases")
    add_run_options(parser)
    return parser


def add_case_globs(select: argparse._ArgumentGroup, *, listed: str) -> None:
    """``--only``, ``--exclude`` and ``--list`` (which prints ``listed``), shared by the server
    and client modes."""
    select.add_argument(
        "--only", action="append", default=[], metavar="GLOB", help="run only case IDs matching"
    )
    select.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="skip case IDs matching"
    )
    select.add_argument("--list", action="store_true", help=f"list {listed} and exit")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The effort and results options (default budget: ``default``), shared by the server and
    client modes; :func:`check_run_options` checks their values."""
    effort = parser.add_argument_group("effort")
    budget = effort.add_mutually_exclusive_group()
    budget.add_argument(
        "--quick",
        dest="budget",
        action="store_const",
        const="quick",
        help="small Hypothesis budget",
    )
    budget.add_argument(
        "--thorough",
        dest="budget",
        action="store_const",
        const="thorough",
        help="large Hypothesis budget (slow)",
    )
    effort.add_argument("--seed", type=int, help="seed for generated cases (printed every run)")
    effort.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="bound on each wait for a reply, event or close (default: 5)",
    )
    effort.add_argument(
        "--case-timeout",
        type=float,
        metavar="SECONDS",
        help="bound on a whole case (default: from the budget)",
    )
    out = parser.add_argument_group("results")
    out.add_argument(
        "--strict", action="store_true", help="fail (exit 1) on SHOULD requirements too"
    )
    out.add_argument(
        "--report-dir",
        type=Path,
        help="where report.json, junit.xml and report.html go "
        "(default: reports/conformance-<timestamp>)",
    )
    out.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML to FILE")
    out.add_argument(
        "--no-transcripts",
        action="store_true",
        help="leave transcripts out of the terminal summary",
    )
    parser.set_defaults(budget="default")


def check_run_options(args: argparse.Namespace) -> None:
    """A :class:`ValueError` for a value of :func:`add_run_options`' options no run can take."""
    if args.timeout <= 0:
        raise ValueError("--timeout must be positive")


def usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """Print the usage and ``message`` as argparse does; the exit status of a usage error."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def config_from_args(args: argparse.Namespace) -> RunConfig:
    profiles = [p for group in args.profile or [] for p in group] or None
    unknown = sorted(set(profiles or []) - set(PROFILES))
    if unknown:
        raise ValueError(f"unknown profile(s): {', '.join(unknown)} (known: {', '.join(PROFILES)})")
    check_run_options(args)
    if args.peer and not args.url:
        raise ValueError(
            "--peer names another node of the target's deployment: give the target's URL too"
        )
    for peer in args.peer:
        if not peer.startswith(("ws://", "wss://")):
            raise ValueError(f"--peer {peer!r} is not a WebSocket URL (ws://… or wss://…)")
        if peer == args.url or args.peer.count(peer) > 1:
            raise ValueError(f"--peer {peer!r} is given twice (or is the target itself)")
    if args.url and args.publish_url and not args.test_instance:
        # Against a live backend the suite's progress and system events reached real users'
        # pages; a server the suite starts itself (no URL) has none.
        raise ValueError(
            "--publish-url makes the suite publish test events on the standard channels "
            "(system, progress), which every subscriber of this server receives: point it at a "
            "test instance and add --test-instance to confirm"
        )
    return with_run_options(
        RunConfig,
        args,
        url=args.url,
        sse_url=args.sse_url,
        publish_url=args.publish_url,
        publish_token=args.publish_token,
        token=args.token,
        other_token=args.other_token,
        max_detached_total=args.max_detached_total,
        max_handshakes=args.max_handshakes,
        profiles=profiles,
        peers=tuple(args.peer),
    )


_Config = TypeVar("_Config", bound=RunOptions)


def with_run_options(kind: type[_Config], args: argparse.Namespace, **fields: Any) -> _Config:
    """A ``kind`` (server or client run config) of ``fields`` and the options every run takes
    (:func:`add_case_globs`, :func:`add_run_options`), as ``args`` gives them."""
    return kind(
        only=args.only,
        exclude=args.exclude,
        budget=args.budget,
        seed=args.seed,
        strict=args.strict,
        timeout=args.timeout,
        case_timeout=args.case_timeout,
        **fields,
    )


def list_cases(cases: Sequence[Case], only: Sequence[str], exclude: Sequence[str]) -> None:
    """One line per case, tab-separated (ID, profile, level, requirements, title): greppable."""
    from canaux_conformance.runner import select_cases

    for case in select_cases(cases, only=only, exclude=exclude):
        reqs = ",".join(case.requirements)
        print(f"{case.id}\t{case.profile}\t{case.level}\t{reqs}\t{case.title}")


def run_and_report(
    args: argparse.Namespace,
    start: Callable[[LiveProgress], Coroutine[Any, Any, RunResult]],
    *,
    kind: str,
    cannot: str,
) -> int:
    """The tail of a server or client run: run with live progress, print the summary, write the
    reports (``args.report_dir``, else ``reports/<kind>-<time>``), return the exit status.

    ``cannot`` prefixes a :class:`TargetError` (exit 2); an interrupt exits 130.
    """
    console = Console(stderr=False, highlight=False)
    report_dir = args.report_dir or Path("reports") / (
        f"{kind}-" + datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    try:
        with LiveProgress(console) as progress:
            result = asyncio.run(start(progress))
    except TargetError as exc:
        console.print(f"[bold red]{cannot}:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    print_summary(result, console, transcripts=not args.no_transcripts)
    written = write_reports(result, report_dir, junit=args.junit)
    console.print("reports: " + ", ".join(str(p) for p in written))
    return result.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["client"]:
        from canaux_conformance.client.cli import client_main

        return client_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.list:
        list_cases(all_cases(), args.only, args.exclude)
        return 0
    try:
        config = config_from_args(args)
    except ValueError as exc:
        return usage_error(parser, str(exc))
    if args.budget not in BUDGETS:  # pragma: no cover - argparse only offers known budgets
        return EXIT_USAGE
    return run_and_report(
        args,
        lambda progress: run(config, progress=progress),
        kind="conformance",
        cannot="cannot test the target",
    )
