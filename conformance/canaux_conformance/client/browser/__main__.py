"""``python -m canaux_conformance.client.browser``: the browser adapter (see ``adapter``)."""

import sys

from canaux_conformance.client.browser.adapter import main

sys.exit(main(sys.argv[1:]))
