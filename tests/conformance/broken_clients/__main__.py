"""Run the reference client's adapter with one guarantee removed: ``NAME [adapter options]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conformance.broken_clients.patches import apply
else:  # run as `python tests/conformance/broken_clients NAME`: its folder is sys.path[0]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from broken_clients.patches import apply


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print("usage: broken_clients NAME [--client reference|compat]", file=sys.stderr)
        return 2
    apply(argv[0])
    from canaux.conformance_adapter import main as adapter_main

    return adapter_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
