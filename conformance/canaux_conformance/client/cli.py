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
from collections.abc import Sequence

from canaux_conformance.cli import (
    add_case_globs,
    add_run_options,
    check_run_options,
    list_cases,
    run_and_report,
    usage_error,
    with_run_options,
)
from canaux_conformance.client.runner import ClientRunConfig, run_client

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
  canaux-conformance client -- python -m canaux_conformance.client.browser
                      # Chromium's own EventSource (extra conformance-browser): SSE cases
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
    add_case_globs(parser.add_argument_group("selection"), listed="the client cases")
    add_run_options(parser)
    return parser


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Options before ``--``, the adapter command after it."""
    items = list(argv)
    if "--" in items:
        at = items.index("--")
        return items[:at], items[at + 1 :]
    return items, []


def client_main(argv: Sequence[str]) -> int:
    options, command = _split(argv)
    parser = build_client_parser()
    args = parser.parse_args(options)
    if args.list:
        from canaux_conformance.client.cases import all_client_cases

        list_cases(all_client_cases(), args.only, args.exclude)
        return 0
    try:
        check_run_options(args)
    except ValueError as exc:
        return usage_error(parser, str(exc))
    config = with_run_options(ClientRunConfig, args, argv=command or None)
    return run_and_report(
        args,
        lambda progress: run_client(config, progress=progress),
        kind="client",
        cannot="cannot start the adapter",
    )
