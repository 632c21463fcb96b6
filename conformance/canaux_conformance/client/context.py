"""What a client case works with: the scripted server, the adapter, timing from both.

A client case is an ``async def`` taking a :class:`ClientCaseContext`. It starts the adapter
(the client under test, playing the application), scripts the server side connection by
connection, and checks what the wire and the adapter show. Waits are bounded: on the wire by
the heartbeat the case announced and the backoff the adapter declared, so that a ``--quick`` run
against a client with short backoff settings stays short.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from canaux_conformance.cases import BUDGETS, Budget
from canaux_conformance.client.adapter import Adapter, AdapterInfo, Message
from canaux_conformance.client.scripted_server import ScriptedConnection, ScriptedServer
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.transcript import Transcript

__all__ = ["QUICK_BACKOFF", "Backoff", "ClientCaseContext"]

QUICK_BACKOFF = {"base_ms": 50, "cap_ms": 400}
"""The backoff the suite asks a configurable client for: timing cases stay short."""


@dataclass(frozen=True)
class Backoff:
    """The backoff the client really uses (asked for when configurable, else declared)."""

    base: float
    cap: float

    def bound(self, attempt: int) -> float:
        """The largest delay allowed before attempt ``attempt`` [CLIENT-1]."""
        return min(self.cap, self.base * float(2**attempt))


@dataclass
class ClientCaseContext:
    """The scripted server, the adapter, the transcript and the budget of one client case."""

    adapter_argv: Sequence[str]
    case_id: str = "CL-00"
    seed: int = 0
    budget: Budget = field(default_factory=lambda: BUDGETS["default"])
    timeout: float = 5.0
    """Default seconds for one wait (a frame, an adapter message)."""
    transcript: Transcript = field(default_factory=Transcript)
    servers: list[ScriptedServer] = field(default_factory=list)
    adapters: list[Adapter] = field(default_factory=list)
    _marks: int = 0

    # ----------------------------------------------------------------- parts

    async def server(self, *, select_subprotocol: bool = True) -> ScriptedServer:
        """A started scripted server on 127.0.0.1, port 0; closed when the case ends."""
        server = ScriptedServer(self.transcript, select_subprotocol=select_subprotocol)
        self.servers.append(server)
        return await server.start()

    async def adapter(self) -> Adapter:
        """A started adapter (its ``ready`` received); stopped when the case ends."""
        adapter = Adapter(
            self.adapter_argv,
            self.transcript,
            timeout=self.timeout,
            name="adapter" if not self.adapters else f"adapter{len(self.adapters) + 1}",
        )
        self.adapters.append(adapter)
        await adapter.start()
        return adapter

    def backoff(self, adapter: Adapter) -> Backoff:
        info = adapter.info
        assert info is not None
        if info.configurable:
            return Backoff(QUICK_BACKOFF["base_ms"] / 1000, QUICK_BACKOFF["cap_ms"] / 1000)
        return Backoff(info.base_ms / 1000, info.cap_ms / 1000)

    async def connect(
        self,
        adapter: Adapter,
        server: ScriptedServer,
        *,
        subscribe: Sequence[str] = (),
        token: str | None = None,
        **members: Any,
    ) -> ScriptedConnection:
        """Subscribe (before connecting, as applications do), connect, accept the connection."""
        for channel in subscribe:
            await adapter.command("subscribe", channel=channel)
        await adapter.command(
            "connect", url=server.url, token=token, backoff=QUICK_BACKOFF, **members
        )
        return await server.accept(timeout=self.timeout)

    async def welcomed(
        self,
        adapter: Adapter,
        server: ScriptedServer,
        *,
        subscribe: Sequence[str] = (),
        **welcome: Any,
    ) -> tuple[ScriptedConnection, dict[str, Any]]:
        """Connect, take the hello, send a welcome, answer the subscriptions with acks."""
        conn = await self.connect(adapter, server, subscribe=subscribe)
        await conn.hello(timeout=self.timeout)
        sent = await conn.welcome(**welcome)
        await self.ack_subscriptions(conn, len(subscribe))
        await self.state(adapter, "connected")
        return conn, sent

    async def ack_subscriptions(self, conn: ScriptedConnection, count: int) -> list[str]:
        """Ack the next ``count`` subscribe frames; return their channels."""
        channels = []
        for _ in range(count):
            frame = await conn.next(timeout=self.timeout, types=("subscribe",))
            channels.append(str(frame.get("channel")))
            await conn.ack(str(frame.get("id")))
        return channels

    async def state(self, adapter: Adapter, state: str, *, timeout: float | None = None) -> None:
        """Wait until the adapter reports ``state``."""
        await adapter.wait_for(
            lambda m: m.kind == "state" and m.get("state") == state,
            timeout=self.timeout if timeout is None else timeout,
            what=f"state {state!r}",
        )

    def channel(self, hint: str = "ch") -> str:
        self._marks += 1
        return f"conformance.{self.case_id.lower()}.{hint}{self._marks}"

    def data(self, hint: str = "m") -> dict[str, Any]:
        """Channel data unique within the case: the adapter's events are matched by it."""
        self._marks += 1
        return {"mark": f"{hint}{self._marks}-{secrets.token_hex(3)}"}

    def note(self, text: str) -> None:
        self.transcript.note(text)

    def adapter_info(self) -> AdapterInfo | None:
        return self.adapters[0].info if self.adapters and self.adapters[0].info else None

    # ----------------------------------------------------------------- checks

    def delivered(self, adapter: Adapter, channel: str | None = None) -> list[Any]:
        """The data of every event the application saw (of ``channel``), in order."""
        return [
            m.get("data")
            for m in adapter.of_kind("event")
            if channel is None or m.get("channel") == channel
        ]

    async def wait_delivered(
        self, adapter: Adapter, data: Any, *, timeout: float | None = None, requirement: str
    ) -> None:
        """Wait until the application saw an event with ``data``; fail ``requirement`` if not."""
        found = await adapter.observe(
            lambda m: m.kind == "event" and m.get("data") == data,
            timeout=self.timeout if timeout is None else timeout,
        )
        if found is None:
            raise CaseFailed(
                f"the application never saw the event {data!r}", requirement=requirement
            )

    async def outcome(
        self, adapter: Adapter, n: int, *, requirement: str, timeout: float | None = None
    ) -> Message:
        """The ``ack`` / ``refused`` / ``failed`` of publish ``n``; fail ``requirement`` when the
        application is never told how the request ended [CLIENT-7]."""
        found = await adapter.observe(
            lambda m: m.kind in ("ack", "refused", "failed") and m.get("n") == n,
            timeout=self.timeout if timeout is None else timeout,
        )
        if found is None:
            raise CaseFailed(
                f"the application was never told how its request {n} ended",
                requirement=requirement,
            )
        return found

    def check(self) -> None:
        """Raise the first adapter error, then the first frame the client should not have sent."""
        for adapter in self.adapters:
            adapter.check()
        violation = self.first_violation()
        if violation is not None:
            raise violation

    def first_violation(self) -> CaseFailed | None:
        """The frame audit's first finding (a frame no client may send), if any."""
        return next((v for server in self.servers for v in server.violations()), None)

    async def aclose(self) -> None:
        for adapter in self.adapters:
            await adapter.aclose()
        for server in self.servers:
            await server.aclose()

    def stderr(self) -> str:
        parts = [f"--- {a.name} stderr ---\n{a.stderr}" for a in self.adapters if a.stderr]
        return "\n".join(parts)
