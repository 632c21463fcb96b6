"""``canaux conformance …``: run the conformance suite (``canaux-conformance``)
(spec index.md, Conformance).

Every argument after ``conformance`` goes to :func:`canaux_conformance.cli.main` unchanged;
``canaux conformance --help`` shows the suite's own help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from canaux.commands.extras import missing_extra_message

__all__ = ["add_parser", "main", "run", "script"]


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
    try:
        from canaux_conformance.cli import main as suite_main
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("canaux_conformance"):
            raise
        print(missing_extra_message("conformance", exc.name), file=sys.stderr, flush=True)
        return 2
    return int(suite_main(list(argv)) or 0)


def script() -> int:
    """The ``canaux-conformance`` console script: the suite, or what to install to get it."""
    return main(sys.argv[1:])


def run(args: argparse.Namespace) -> int:
    return main(args.suite_args)
