"""Two reference nodes of one deployment, for the suite's cluster tests (spec "Clusters").

:func:`two_nodes` starts two ``canaux serve`` subprocesses on free loopback ports with the
suite's own :class:`~canaux_conformance.target.ReferenceServer` (the options the suite uses
for a reference under test), both with ``--broker URL`` (one Redis: one deployment) or
without (each its own memory broker: nothing shared), and one publish token for both.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from canaux_conformance.target import REFERENCE_SERVER_ARGS, ReferenceServer, Target

__all__ = ["two_nodes"]


@contextlib.asynccontextmanager
async def two_nodes(broker: str | None) -> AsyncIterator[tuple[Target, Target]]:
    """Node 0 and node 1 (their targets carry the publish URL and token); ``broker``: the
    Redis URL both use, or ``None`` for a memory broker each."""
    args = (*REFERENCE_SERVER_ARGS, *(("--broker", broker) if broker else ()))
    first = ReferenceServer(args=args)
    second = ReferenceServer(args=args, publish_token=first.publish_token)
    try:
        node0 = await first.start()
        node1 = await second.start()
        yield node0, node1
    finally:
        await second.stop()
        await first.stop()
