"""The ``canaux`` command line: ``serve``, ``tail``, ``publish``, ``conformance`` (spec index.md).

Each sub-command lives in :mod:`canaux.commands` as a module with ``add_parser(subparsers)``
and ``run(args) -> int``; this module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from canaux import __version__
from canaux.commands import conformance
from canaux.commands.extras import COMMAND_EXTRAS, missing_extra_message

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES = ("serve", "tail", "publish", "conformance")
"""Sub-command modules of :mod:`canaux.commands`, in the order ``--help`` lists them."""

Runner = Callable[[argparse.Namespace], int]


def _register(parser: argparse.ArgumentParser) -> dict[str, Runner]:
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners: dict[str, Runner] = {}
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"canaux.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"canaux.commands.{name}":
                continue  # an optional command not installed
            if name not in COMMAND_EXTRAS:
                raise  # a missing dependency of a base command is a real error
            runners[name] = _extra_missing(subparsers, name, exc.name)
            continue
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        for added in set(subparsers.choices) - before:
            runners[added] = module.run
    return runners


def _extra_missing(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    module: str | None,
) -> Runner:
    """A stand-in for a command whose extra is not installed: it says what to install."""
    message = missing_extra_message(name, module)
    parser = subparsers.add_parser(
        name, help=f"(not installed: pip install 'canaux[{COMMAND_EXTRAS[name]}]')"
    )
    parser.set_defaults(unavailable=True)  # main() lets its arguments through unread

    def run(args: argparse.Namespace) -> int:
        print(message, file=sys.stderr, flush=True)
        return 2

    return run


def _build() -> tuple[argparse.ArgumentParser, dict[str, Runner]]:
    parser = argparse.ArgumentParser(
        prog="canaux",
        description="Canaux reference implementation: many named channels over one WebSocket.",
    )
    parser.add_argument("--version", action="version", version=f"canaux {__version__}")
    return parser, _register(parser)


def build_parser() -> argparse.ArgumentParser:
    """The ``canaux`` argument parser with every available sub-command."""
    return _build()[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["conformance"]:
        # Everything after it belongs to the suite, options included (argparse would try to
        # read them itself).
        return conformance.main(args_list[1:])
    parser, runners = _build()
    args, unknown = parser.parse_known_args(args_list)
    if unknown and not getattr(args, "unavailable", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    runner = runners.get(args.command) if args.command else None
    if runner is None:
        parser.print_help()
        return 2
    return runner(args)
