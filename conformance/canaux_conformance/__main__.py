"""``python -m canaux_conformance`` runs the command line."""

import sys

from canaux_conformance.cli import main

sys.exit(main())
