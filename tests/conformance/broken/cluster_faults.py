"""Broken clusters: two reference nodes that do NOT serve as one server (spec "Clusters").

Each :class:`BrokenCluster` is two real ``canaux serve`` nodes, on one Redis (``broker
"redis"``) or each with its own memory broker (``"memory"``: nothing shared), with, for most,
a :class:`~.frame_proxy.FrameProxy` running one fault in front of one node. The suite's
cluster cases (PEER-*) run against them with ``--peer`` (test_cluster_proof_of_power.py); every
case listed must FAIL, citing one of the requirement IDs listed for it.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from .frame_proxy import Conn, Fault, Frame

__all__ = [
    "BROKEN_CLUSTERS",
    "BrokenCluster",
    "ForgetsOtherNodesSessions",
    "KeepsTakenOverConnection",
    "OrdersPerNode",
    "RemembersRepliesPerNode",
]


class OrdersPerNode(Fault):
    """Node 1 hands its sessions the events of a channel in its own order: of two consecutive
    events of one channel it delivers the second first (the seqs stay contiguous), as a node
    that orders the channel by itself, not with the deployment, would (CLUSTER-3)."""

    name = "orders-per-node"
    description = "node 1 swaps each pair of consecutive events of a channel"
    release_after = 0.3
    """Seconds an event with no successor yet is held before it is delivered as it is."""

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") != "event" or not isinstance(frame.get("seq"), int):
            return [frame]
        held: Frame | None = conn.state.pop("held", None)
        if held is None:
            conn.state["held"] = frame
            asyncio.get_running_loop().create_task(self._release(conn, frame))
            return []
        if held.get("channel") != frame.get("channel"):
            conn.state["held"] = frame
            asyncio.get_running_loop().create_task(self._release(conn, frame))
            return [held]
        held["seq"], frame["seq"] = frame["seq"], held["seq"]
        return [frame, held]

    async def _release(self, conn: Conn, frame: Frame) -> None:
        # The fault's own clock: an event with no successor is not held for ever.
        await asyncio.sleep(self.release_after)
        async with conn.proxy.lock:
            if conn.state.get("held") is frame:
                del conn.state["held"]
                await conn.to_client(frame)


class ForgetsOtherNodesSessions(Fault):
    """Node 1 knows only the sessions it issued: a resume of a session made on node 0 is
    answered ``resumed: false`` with a new session (RESUME-2 through CLUSTER-1); over SSE
    too, where it knows no session (a stream's ``Last-Event-ID`` is dropped)."""

    name = "forgets-other-nodes-sessions"
    description = "node 1 treats a session issued by node 0 as unknown"

    def __init__(self) -> None:
        self.issued: set[str] = set()

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        resume = frame.get("resume")
        known = isinstance(resume, dict) and resume.get("session") in self.issued
        if frame.get("type") == "hello" and isinstance(resume, dict) and not known:
            frame["resume"] = {**resume, "session": secrets.token_urlsafe(24)}
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        if frame.get("type") == "welcome" and isinstance(frame.get("session"), str):
            self.issued.add(frame["session"])
        return [frame]

    def http_request(self, path: str, headers: dict[str, str], query: dict[str, str]) -> None:
        for name in [h for h in headers if h.lower() == "last-event-id"]:
            del headers[name]
        query.pop("last_event_id", None)


class KeepsTakenOverConnection(Fault):
    """Node 0 does not close the connection of a session that a resume on node 1 took over:
    its 4411 close never reaches the client (RESUME-4)."""

    name = "keeps-taken-over-connection"
    description = "node 0 leaves open the connection of a session resumed on node 1"

    async def server_closed(self, conn: Conn, code: int, reason: str) -> bool:
        return code != 4411


class RemembersRepliesPerNode(Fault):
    """Node 1 remembers only the ids its own connections sent: the ids of subscribe,
    unsubscribe and publish frames reaching it are renamed (consistently, and back in the
    replies), so a frame answered on node 0 and re-sent on node 1 is new there (OPS-9)."""

    name = "remembers-replies-per-node"
    description = "node 1 applies again a publish answered on node 0 and re-sent after a resume"
    suffix = ":n1"

    async def from_client(self, conn: Conn, frame: Frame) -> list[Frame]:
        frame_id = frame.get("id")
        if frame.get("type") in ("subscribe", "unsubscribe", "publish") and isinstance(
            frame_id, str
        ):
            frame["id"] = frame_id + self.suffix
        return [frame]

    async def from_server(self, conn: Conn, frame: Frame) -> list[Frame]:
        frame_id = frame.get("id")
        if frame.get("type") in ("ack", "error") and isinstance(frame_id, str):
            frame["id"] = frame_id.removesuffix(self.suffix)
        return [frame]


@dataclass(frozen=True)
class BrokenCluster:
    """Two nodes, what breaks them, and for each case that must catch it the requirement IDs
    its failure may cite."""

    name: str
    description: str
    catches: dict[str, frozenset[str]]
    broker: str = "redis"
    """``redis``: both nodes on one Redis; ``memory``: each its own memory broker."""
    fault: type[Fault] | None = None
    node: int = 1
    """The node the fault's relay stands in front of (the other is reached directly)."""

    @property
    def cases(self) -> tuple[str, ...]:
        return tuple(sorted(self.catches))


def _c(**cases: str) -> dict[str, frozenset[str]]:
    return {case.replace("_", "-"): frozenset(ids.split()) for case, ids in cases.items()}


BROKEN_CLUSTERS: tuple[BrokenCluster, ...] = (
    BrokenCluster(
        "split-brain",
        "two nodes with memory brokers: they share nothing",
        _c(
            PEER_01="CLUSTER-2",
            PEER_02="CLUSTER-2",
            PEER_03="RESUME-2",
            PEER_04="RESUME-2 RESUME-4",
            PEER_05="CLUSTER-2 RESUME-2",
            PEER_06="CLUSTER-4",
            PEER_07="RESUME-2",
        ),
        broker="memory",
    ),
    BrokenCluster(
        OrdersPerNode.name,
        OrdersPerNode.description,
        _c(PEER_01="CLUSTER-3", PEER_06="CLUSTER-4 QUEUE-2 QUEUE-8"),
        fault=OrdersPerNode,
    ),
    BrokenCluster(
        ForgetsOtherNodesSessions.name,
        ForgetsOtherNodesSessions.description,
        _c(
            PEER_03="RESUME-2",
            PEER_04="RESUME-2",
            PEER_05="RESUME-2",
            PEER_07="RESUME-2",
            STATE_01="RESUME-2",
        ),
        fault=ForgetsOtherNodesSessions,
    ),
    BrokenCluster(
        KeepsTakenOverConnection.name,
        KeepsTakenOverConnection.description,
        _c(PEER_04="RESUME-4"),
        fault=KeepsTakenOverConnection,
        node=0,
    ),
    BrokenCluster(
        RemembersRepliesPerNode.name,
        RemembersRepliesPerNode.description,
        _c(PEER_05="OPS-9"),
        fault=RemembersRepliesPerNode,
    ),
)
"""Every broken cluster; together they catch each PEER-* case on one of its requirements."""
