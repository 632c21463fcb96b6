"""The ``canaux-conformance`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="canaux-conformance",
        description="Check a Canaux server against the specification.",
    )


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0
