"""``canaux conformance …``: run the conformance suite (``canaux-conformance``) (spec §17).

Every argument after ``conformance`` goes to :func:`canaux_conformance.cli.main` unchanged;
``canaux conformance --help`` shows the suite's own help.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["add_parser", "main", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``conformance`` sub-command (its arguments are the suite's)."""
    parser = subparsers.add_parser(
        "conformance",
        help="check a server against the specification (the canaux-conformance suite)",
        description="Run the Canaux conformance suite; arguments are passed to it unchanged.",
        add_help=False,
    )
    parser.add_argument("suite_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def main(argv: Sequence[str]) -> int:
    """Run the suite with ``argv`` (what follows ``canaux conformance``)."""
    # The suite never imports canaux; importing the suite from here is the allowed direction.
    from canaux_conformance.cli import main as suite_main

    return int(suite_main(list(argv)) or 0)


def run(args: argparse.Namespace) -> int:
    return main(args.suite_args)
