"""The suite checks clusters: the whole suite with ``--peer`` against two reference nodes on
one Redis (issue #13, "the full suite against a two-node cluster (0 fail)").

Debian's ``redis-server`` runs on a free loopback port (tests/reference/server/redis_server.py);
both nodes are ``canaux serve --broker redis://…`` subprocesses on port 0, shared by the cluster
tests (conftest.py ``redis_cluster``). The full run uses the
quick budget (the default budget's machine alone takes about two minutes on this machine).
"""

from __future__ import annotations

import asyncio
import re
import socket

import pytest
import redis

from canaux_conformance.matrix import compliance_matrix
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import NO_PEER, RunConfig, run
from canaux_conformance.target import Target, TargetError
from tests.reference.server.redis_server import RedisServer

pytestmark = pytest.mark.slow

SEED = 20261202
CLUSTER = ("CLUSTER-1", "CLUSTER-2", "CLUSTER-3", "CLUSTER-4")


def test_the_full_suite_passes_a_two_node_cluster(
    redis_cluster: tuple[Target, Target], cluster_redis: RedisServer
) -> None:
    """Every case against node 0, the PEER-* cases across both, the machine spread over both:
    no failure, no error, conformant; CLUSTER-1..4 checked and passed."""
    node0, node1 = redis_cluster
    with redis.Redis.from_url(cluster_redis.url) as client:
        before = int(client.xlen("canaux:events"))
    result = asyncio.run(
        run(
            RunConfig(
                url=node0.ws_url,
                peers=(node1.ws_url,),
                publish_url=node0.publish_url,
                publish_token=node0.publish_token,
                budget="quick",
                seed=SEED,
            )
        )
    )
    with redis.Redis.from_url(cluster_redis.url) as client:
        stored = int(client.xlen("canaux:events")) - before
    bad = [r for r in result.results if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
    problems = "\n".join(f"{r.id}: {r.verdict} [{r.requirement}] {r.message[:800]}" for r in bad)
    assert bad == [], problems
    assert result.exit_status == 0, result.verdict_text()
    peers = {r.id: r for r in result.results if r.id.startswith("PEER-")}
    assert sorted(peers) == [f"PEER-0{n}" for n in range(1, 8)]
    assert all(r.verdict is Verdict.PASS for r in peers.values()), peers
    rows = {row.id: row for row in compliance_matrix(result)}
    assert [rows[rid].verdict for rid in CLUSTER] == [Verdict.PASS] * 4
    # The machine spread its connections over both nodes.
    machine = next(r for r in result.results if r.id == "STATE-01")
    spread = re.search(r"connections per node \[(\d+), (\d+)\]", machine.transcript_text)
    assert spread is not None, machine.transcript_text[-2000:]
    assert min(int(spread[1]), int(spread[2])) > 0, spread[0]
    assert stored > 100, "the events went through Redis"


def test_without_a_peer_the_cluster_requirements_are_not_checked(
    redis_cluster: tuple[Target, Target],
) -> None:
    """One node alone: the PEER-* cases do not run, their requirements say "not checked: no
    peer given", and the run stays conformant (not incomplete)."""
    node0, _ = redis_cluster
    result = asyncio.run(
        run(RunConfig(url=node0.ws_url, only=("PEER-*", "ROUTE-01"), budget="quick", seed=1))
    )
    peers = [r for r in result.results if r.id.startswith("PEER-")]
    assert len(peers) == 7
    assert all(r.verdict is Verdict.SKIPPED and r.unchecked for r in peers)
    assert all(r.message == NO_PEER for r in peers)
    rows = {row.id: row for row in compliance_matrix(result)}
    for rid in CLUSTER:
        assert rows[rid].status == f"not checked: {NO_PEER}", rows[rid]
    assert result.exit_status == 0, result.verdict_text()
    assert any(note.startswith("clusters: not checked: no peer given") for note in result.notes)


def test_a_peer_that_does_not_answer_stops_the_run(redis_cluster: tuple[Target, Target]) -> None:
    """Nothing about a cluster can be checked through a node the suite cannot reach: the run
    does not start (the CLI exits 2, "cannot test the target")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"

    config = RunConfig(url=redis_cluster[0].ws_url, peers=(closed,), only=("PEER-01",), seed=1)
    with pytest.raises(TargetError, match=re.escape(closed.removesuffix("/ws"))):
        asyncio.run(run(config))
