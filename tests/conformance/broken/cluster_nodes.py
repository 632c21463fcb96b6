"""Two reference nodes of one deployment, for the suite's cluster tests (spec "Clusters").

:func:`two_nodes` starts two ``canaux serve`` subprocesses on free loopback ports with the
suite's own :class:`~canaux_conformance.target.ReferenceServer` (the options the suite uses
for a reference under test), both with ``--broker URL`` (one Redis: one deployment) or
without (each its own memory broker: nothing shared), and one publish token for both.
:func:`two_nodes_in_background` keeps such a pair for several tests (each test runs the suite
in its own event loop; the nodes' subprocesses are watched from a loop in a thread).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from canaux_conformance.loop_thread import EventLoopThread
from canaux_conformance.target import REFERENCE_SERVER_ARGS, ReferenceServer, Target

__all__ = ["two_nodes", "two_nodes_in_background"]

STARTUP_S = 120.0
"""Bound on starting (or stopping) the pair on a loaded machine."""


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


@contextlib.contextmanager
def two_nodes_in_background(broker: str | None) -> Iterator[tuple[Target, Target]]:
    """:func:`two_nodes`, kept running by a loop in a thread until the block ends."""
    loop = EventLoopThread("canaux-cluster-nodes")
    stack = contextlib.AsyncExitStack()
    try:
        yield loop.run(stack.enter_async_context(two_nodes(broker)), timeout=STARTUP_S)
    finally:
        try:
            loop.run(stack.aclose(), timeout=STARTUP_S)
        finally:
            loop.stop()
