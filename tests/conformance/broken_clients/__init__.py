"""Deliberately broken Canaux clients: the reference client with one guarantee removed each.

Each one is the reference client's conformance adapter (``canaux.conformance_adapter``) run with
one behaviour of the client patched out, inside the adapter process::

    python tests/conformance/broken_clients NAME [--client reference|compat]

:data:`~tests.conformance.broken_clients.catalogue.BROKEN_CLIENTS` names them and the
requirements each breaks; ``tests/conformance/test_client_proof_of_power.py`` shows that the
client cases catch every one, citing one of those requirements (spec index.md, "Conformance").
"""

__all__: list[str] = []
