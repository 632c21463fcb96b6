"""Fixtures of the conformance tests: a two-node reference cluster on Redis, for the tests of
the suite's cluster mode (``--peer``; test_cluster.py, test_cluster_proof_of_power.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import redis

from canaux_conformance.target import Target
from tests.reference.server.redis_server import RedisServer

if TYPE_CHECKING:
    from tests.conformance.broken.cluster_nodes import two_nodes_in_background
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.cluster_nodes import two_nodes_in_background


@pytest.fixture(scope="session")
def cluster_redis() -> Iterator[RedisServer]:
    """Debian's ``redis-server`` on a free loopback port, emptied once."""
    with RedisServer() as running:
        with redis.Redis.from_url(running.url) as client:
            client.flushall()
        yield running


@pytest.fixture(scope="session")
def redis_cluster(cluster_redis: RedisServer) -> Iterator[tuple[Target, Target]]:
    """Two ``canaux serve --broker redis://…`` nodes (subprocesses, port 0) on that Redis, one
    deployment, shared by the cluster tests: each runs the suite with fresh channel names."""
    with two_nodes_in_background(cluster_redis.url) as nodes:
        yield nodes
