"""Client conformance (issue 12): the suite plays the server and judges a client library.

- :mod:`.adapter` — the adapter process, driven over JSON lines (spec/client-adapter.md);
- :mod:`.scripted_server` — a loopback Canaux server whose every move a case scripts;
- :mod:`.context` — what a client case works with; :mod:`.cases` — the client case registry;
- :mod:`.suites` — the cases; :mod:`.runner` — a whole run; :mod:`.cli` — ``canaux-conformance
  client``;
- :mod:`.browser` — an adapter whose client is a browser's own ``EventSource`` (Playwright).

Like the rest of the suite it never imports the reference implementation.
"""

from canaux_conformance.client.adapter import Adapter, AdapterError, AdapterInfo, Message
from canaux_conformance.client.cases import CLIENT_REGISTRY, all_client_cases, client_case
from canaux_conformance.client.context import Backoff, ClientCaseContext
from canaux_conformance.client.runner import REFERENCE_ADAPTER, ClientRunConfig, run_client
from canaux_conformance.client.scripted_server import ScriptedConnection, ScriptedServer

__all__ = [
    "CLIENT_REGISTRY",
    "REFERENCE_ADAPTER",
    "Adapter",
    "AdapterError",
    "AdapterInfo",
    "Backoff",
    "ClientCaseContext",
    "ClientRunConfig",
    "Message",
    "ScriptedConnection",
    "ScriptedServer",
    "all_client_cases",
    "client_case",
    "run_client",
]
