"""``python -m canaux`` runs the command line."""

import sys

from canaux.cli import main

sys.exit(main())
