"""Proof of power for the cluster cases: each broken cluster is caught, on the right requirement.

A broken cluster (tests/conformance/broken/cluster_faults.py) is two real reference nodes that
do not serve as one server: two memory brokers that share nothing, or two nodes on one Redis
with a fault-injecting relay in front of one of them (a node that orders a channel by itself,
forgets the other node's sessions, keeps a taken-over connection open, or remembers replies
per node). The suite runs the cases aimed at it with ``--peer`` (quick budget, fixed seed):
every one of them must FAIL citing one of the requirement IDs listed for it. The same cases
must all PASS against the same two nodes on Redis behind transparent relays.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import pytest

from canaux_conformance.cases import all_cases
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import RunResult
from canaux_conformance.runner import RunConfig, run
from canaux_conformance.target import Target

if TYPE_CHECKING:
    from tests.conformance.broken.cluster_faults import BROKEN_CLUSTERS, BrokenCluster
    from tests.conformance.broken.cluster_nodes import two_nodes
    from tests.conformance.broken.frame_proxy import Fault, FrameProxy
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.cluster_faults import BROKEN_CLUSTERS, BrokenCluster
    from broken.cluster_nodes import two_nodes
    from broken.frame_proxy import Fault, FrameProxy

pytestmark = pytest.mark.slow

SEED = 20261202
WAIT = 3.0
"""Seconds per wait: generous for a loaded machine, short enough that missing events fail fast."""


@contextlib.asynccontextmanager
async def _relayed(node: Target, fault: Fault | None) -> AsyncIterator[Target]:
    """``node`` as is, or behind a relay running ``fault``."""
    if fault is None:
        yield node
        return
    host, port = node.host_port
    async with FrameProxy(host, port, fault) as relay:
        yield Target.from_url(
            relay.ws_url,
            publish_url=f"http://127.0.0.1:{relay.port}/publish",
            publish_token=node.publish_token,
        )


async def _run_cluster(
    nodes: tuple[Target, Target], cases: Sequence[str], faults: tuple[Fault | None, Fault | None]
) -> RunResult:
    async with (
        _relayed(nodes[0], faults[0]) as first,
        _relayed(nodes[1], faults[1]) as second,
    ):
        return await run(
            RunConfig(
                url=first.ws_url,
                peers=(second.ws_url,),
                publish_url=first.publish_url,
                publish_token=first.publish_token,
                only=tuple(cases),
                budget="quick",
                seed=SEED,
                timeout=WAIT,
            )
        )


async def _memory_cluster(cases: Sequence[str]) -> RunResult:
    async with two_nodes(None) as nodes:
        return await _run_cluster(nodes, cases, (None, None))


def _summary(result: RunResult) -> str:
    return "\n".join(
        f"{r.id}: {r.verdict} [{r.requirement}] {r.message[:400]}" for r in result.results
    )


@pytest.mark.parametrize("broken", BROKEN_CLUSTERS, ids=lambda b: b.name)
def test_a_broken_cluster_is_caught_citing_what_it_breaks(
    broken: BrokenCluster, redis_cluster: tuple[Target, Target]
) -> None:
    if broken.broker == "memory":
        result = asyncio.run(_memory_cluster(broken.cases))
    else:
        assert broken.fault is not None
        fault = broken.fault()
        faults = (fault, None) if broken.node == 0 else (None, fault)
        result = asyncio.run(_run_cluster(redis_cluster, broken.cases, faults))
    summary = f"{broken.name} ({broken.description}):\n" + _summary(result)
    assert sorted(r.id for r in result.results) == list(broken.cases), summary
    for r in result.results:
        assert r.verdict is Verdict.FAIL, summary
        assert r.requirement in broken.catches[r.id], summary


def test_the_cases_pass_two_nodes_on_redis_behind_transparent_relays(
    redis_cluster: tuple[Target, Target],
) -> None:
    used = sorted({case for broken in BROKEN_CLUSTERS for case in broken.cases})
    result = asyncio.run(_run_cluster(redis_cluster, used, (Fault(), Fault())))
    summary = _summary(result)
    assert sorted(r.id for r in result.results) == used, summary
    assert all(r.verdict is Verdict.PASS for r in result.results), summary


def test_every_cluster_case_is_caught_by_some_broken_cluster_on_a_requirement_it_names() -> None:
    peer_cases = {c.id: c for c in all_cases() if c.nodes > 1}
    assert sorted(peer_cases) == [f"PEER-0{n}" for n in range(1, 8)]
    for case_id, case in peer_cases.items():
        aimed = [b for b in BROKEN_CLUSTERS if case_id in b.catches]
        assert any(b.catches[case_id] & set(case.requirements) for b in aimed), case_id
    cited = {rid for c in peer_cases.values() for rid in c.requirements}
    caught = {rid for b in BROKEN_CLUSTERS for ids in b.catches.values() for rid in ids}
    assert {"CLUSTER-2", "CLUSTER-3", "CLUSTER-4", "RESUME-2", "RESUME-4", "OPS-9"} <= caught
    assert {"CLUSTER-1", "CLUSTER-2", "CLUSTER-3", "CLUSTER-4"} <= cited
