"""``canaux-conformance client [options] [-- COMMAND ARGS...]``: check a client library (issue 12).

The suite plays the server on a loopback port and drives the client through its adapter, the
program ``COMMAND ARGS...`` speaking the adapter protocol (spec appendix "Client adapter
protocol"). Without a command it checks the reference client
(``python -m canaux.conformance_adapter``). Options, verdicts, reports and exit statuses are the
server mode's: 0 conformant, 1 not conformant, 2 incomplete (the adapter cannot start, a case
errored, or a requirement could not be checked), 64 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console

from canaux_conformance.cli import EXIT_USAGE, add_run_options
from canaux_conformance.client.runner import ClientRunConfig, run_client
from canaux_conformance.report import LiveProgress, print_summary, write_reports
from canaux_conformance.target import TargetError

__all__ = ["build_client_parser", "client_main"]

_EPILOG = """\
The adapter is started once per case; it reads commands (connect, subscribe, unsubscribe,
publish, close) as JSON lines on stdin and writes what the application observes (events,
resets, answers, state changes and close codes) on stdout. Its stderr goes into the report.
An adapter that breaks the adapter protocol makes a case an error, never a failure.

examples:
  canaux-conformance client --quick                    # the reference client
  canaux-conformance client -- python -m canaux.conformance_adapter --client compat
  canaux-conformance client --only 'CL-RES-*' -- node my-client/adapter.js
"""


def build_client_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canaux-conformance client",
        usage="%(prog)s [options] [-- COMMAND [ARGS ...]]",
        description=(
            "Check a Canaux client library against the specification: the suite plays a "
            "scripted server and drives the client through its adapter. Without a command, "
            "check the reference client."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    select = parser.add_argument_group("selection")
    select.add_argument(
        "--only", action="append", default=[], metavar="GLOB", help="run only case IDs matching"
    )
    select.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="skip case IDs matching"
    )
    select.add_argument("--list", action="store_true", help="list the client cases and exit")
    add_run_options(parser)
    parser.set_defaults(budget="default")
    return parser


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Options before ``--``, the adapter command after it."""
    items = list(argv)
    if "--" in items:
        at = items.index("--")
        return items[:at], items[at + 1 :]
    return items, []


def _list_cases(only: Sequence[str], exclude: Sequence[str]) -> None:
    from canaux_conformance.client.cases import all_client_cases
    from canaux_conformance.runner import select_cases

    for case in select_cases(all_client_cases(), only=only, exclude=exclude):
        reqs = ",".join(case.requirements)
        print(f"{case.id}\t{case.profile}\t{case.level}\t{reqs}\t{case.title}")


def client_main(argv: Sequence[str]) -> int:
    options, command = _split(argv)
    parser = build_client_parser()
    args = parser.parse_args(options)
    if args.list:
        _list_cases(args.only, args.exclude)
        return 0
    if args.timeout <= 0:
        parser.print_usage(sys.stderr)
        print("canaux-conformance client: error: --timeout must be positive", file=sys.stderr)
        return EXIT_USAGE
    config = ClientRunConfig(
        argv=command or None,
        only=args.only,
        exclude=args.exclude,
        budget=args.budget,
        seed=args.seed,
        strict=args.strict,
        timeout=args.timeout,
        case_timeout=args.case_timeout,
    )
    console = Console(stderr=False, highlight=False)
    report_dir = args.report_dir or Path("reports") / (
        "client-" + datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    try:
        with LiveProgress(console) as progress:
            result = asyncio.run(run_client(config, progress=progress))
    except TargetError as exc:
        console.print(f"[bold red]cannot start the adapter:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    print_summary(result, console, transcripts=not args.no_transcripts)
    written = write_reports(result, report_dir, junit=args.junit)
    console.print("reports: " + ", ".join(str(p) for p in written))
    return result.exit_status
