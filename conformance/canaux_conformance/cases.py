"""The case registry and what a case gets to work with (spec "Conformance").

A conformance case is an ``async def`` taking a :class:`CaseContext`, registered with
:func:`case`::

    @case(id="ROUTE-01", requirements=("DELIVERY-2",), level="MUST", profile="core",
          title="an event reaches subscribers of its channel only")
    async def route_01(ctx: CaseContext) -> None:
        a = await ctx.client("A")
        ...

It passes by returning, fails by raising :class:`CaseFailed` (naming the requirement the
server broke), is skipped by raising :class:`CaseSkipped`. Any other exception is a defect of
the suite, reported as ``error`` and never as a finding about the server.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import importlib
import pkgutil
import re
import secrets
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
from hypothesis import HealthCheck, settings

from canaux_conformance.audit import AuditFailure, http_error_findings
from canaux_conformance.eventstream import SseStream
from canaux_conformance.outcomes import CaseFailed, CaseSkipped, Verdict
from canaux_conformance.proxy import FaultProxy
from canaux_conformance.target import ServerInfo, Target, host_port
from canaux_conformance.wire import SUBPROTOCOL, RawClient, Transcript

__all__ = [
    "BUDGETS",
    "LEVELS",
    "PROFILES",
    "REGISTRY",
    "Budget",
    "Case",
    "CaseContext",
    "CaseFailed",
    "CaseFn",
    "CaseSkipped",
    "Level",
    "Verdict",
    "all_cases",
    "budget_named",
    "case",
    "load_suites",
    "new_run_id",
    "registrar",
    "requirement_for",
    "run_seed",
]

Level = Literal["MUST", "SHOULD", "MAY"]
LEVELS: tuple[Level, ...] = ("MUST", "SHOULD", "MAY")

PROFILES: tuple[str, ...] = ("core", "chat", "playqueue", "system", "progress", "sse", "legacy")
"""Groups of cases: ``core`` applies to every server, the others to optional features."""

CaseFn = Callable[["CaseContext"], Awaitable[None]]

_CASE_ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_REQ_ID_RE = re.compile(r"^[A-Z]+-[0-9]+$")


@dataclass(frozen=True)
class Case:
    """A registered conformance case."""

    id: str
    requirements: tuple[str, ...]
    level: Level
    profile: str
    title: str
    fn: Callable[[Any], Awaitable[None]]
    """A server case takes a :class:`CaseContext`; a client case (:mod:`canaux_conformance.client`)
    a ``ClientCaseContext``."""
    timeout: float | None = None
    """Seconds the case may take in total; ``None``: the runner's default for the budget."""
    waits: bool = False
    """Mostly waiting on the server's clock (hello timeout, heartbeat): run alongside others."""
    nodes: int = 1
    """Nodes of one deployment the case needs (spec "Clusters"): a case with ``nodes=2`` runs
    only when the run was given a peer (``--peer``), and is "not checked" otherwise."""

    @property
    def module(self) -> str:
        return self.fn.__module__.rsplit(".", 1)[-1]

    @property
    def description(self) -> str:
        return (self.fn.__doc__ or "").strip()


REGISTRY: dict[str, Case] = {}
"""Every registered case by ID, in registration order."""


def case(
    *,
    id: str,
    requirements: Sequence[str],
    level: Level = "MUST",
    profile: str = "core",
    title: str,
    timeout: float | None = None,
    waits: bool = False,
    nodes: int = 1,
) -> Callable[[CaseFn], CaseFn]:
    """Register ``fn`` as the conformance case ``id`` checking ``requirements``."""
    if not _CASE_ID_RE.match(id):
        raise ValueError(f"case id {id!r} must look like 'AREA-NN' (capitals, digits, dashes)")
    if not requirements or not all(_REQ_ID_RE.match(r) for r in requirements):
        raise ValueError(
            f"case {id}: requirements must be IDs such as 'OPS-1', got {requirements!r}"
        )
    if level not in LEVELS:
        raise ValueError(f"case {id}: level must be one of {LEVELS}, got {level!r}")
    if profile not in PROFILES:
        raise ValueError(f"case {id}: profile must be one of {PROFILES}, got {profile!r}")
    if nodes < 1:
        raise ValueError(f"case {id}: nodes must be at least 1, got {nodes!r}")

    return registrar(
        REGISTRY,
        lambda fn: Case(id, tuple(requirements), level, profile, title, fn, timeout, waits, nodes),
    )


_F = TypeVar("_F", bound=Callable[[Any], Awaitable[None]])


def registrar(
    registry: dict[str, Case], build: Callable[[_F], Case], *, what: str = "case"
) -> Callable[[_F], _F]:
    """The decorator that puts ``build(fn)`` into ``registry`` (a server or client case's).

    Registering the same function again (a suite module imported twice) is harmless; another
    function under a taken ID is a :class:`ValueError`.
    """

    def register(fn: _F) -> _F:
        new = build(fn)
        existing = registry.get(new.id)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"{what} id {new.id!r} registered twice ({existing.fn.__module__})")
        registry[new.id] = new
        return fn

    return register


def load_suites(package_name: str = "canaux_conformance.suites") -> dict[str, str]:
    """Import every module of ``package_name`` (the server suite, or the client suite's
    ``canaux_conformance.client.suites``), which registers their cases.

    Returns the modules that failed to import (name → traceback): one broken suite module
    must cost its own cases, reported as errors, not the whole run.
    """
    package = importlib.import_module(package_name)
    broken: dict[str, str] = {}
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{package.__name__}.{module.name}")
        except Exception:
            broken[module.name] = traceback.format_exc()
    return broken


def all_cases() -> list[Case]:
    """Every case of every suite, sorted by ID."""
    load_suites()
    return sorted(REGISTRY.values(), key=lambda c: c.id)


def new_run_id() -> str:
    """A short random lowercase id that keeps this run's channels apart from any other's."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Budget:
    """How hard Hypothesis tries, per ``--quick`` / default / ``--thorough``."""

    name: str
    max_examples: int
    step_count: int
    case_timeout: float
    """Default seconds a case may take in total."""

    def timeout_for(self, case: Case, given: float | None = None) -> float:
        """Seconds ``case`` may take: ``given`` (``--case-timeout``), else its own, else ours."""
        return given or case.timeout or self.case_timeout


BUDGETS: dict[str, Budget] = {
    "quick": Budget("quick", max_examples=8, step_count=12, case_timeout=30.0),
    "default": Budget("default", max_examples=100, step_count=30, case_timeout=120.0),
    "thorough": Budget("thorough", max_examples=150, step_count=50, case_timeout=600.0),
}


def budget_named(name: str) -> Budget:
    """The budget ``name`` (``quick``, ``default``, ``thorough``); a :class:`ValueError` if none."""
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; known: {', '.join(BUDGETS)}")
    return BUDGETS[name]


def run_seed(given: int | None) -> int:
    """The run's seed: ``given`` (``--seed``), else a fresh random one (printed every run)."""
    return given if given is not None else secrets.randbelow(2**32)


_SLUG_RE = re.compile(r"[^a-z0-9_-]+")


def _slug(text: str) -> str:
    slug = _SLUG_RE.sub("-", text.lower()).strip("-_")
    return slug[:32] or "x"


@dataclass
class CaseContext:
    """Everything a case needs: the target, fresh names, clients, proxies, the transcript."""

    target: Target
    case_id: str = "CASE-00"
    run_id: str = field(default_factory=new_run_id)
    seed: int = 0
    budget: Budget = field(default_factory=lambda: BUDGETS["default"])
    timeout: float = 5.0
    """Default seconds for one wait (a reply, an event, a close)."""
    server: ServerInfo | None = None
    """The welcome the runner's probe received, when the server answered one."""
    transcript: Transcript = field(default_factory=Transcript)
    clients: list[RawClient] = field(default_factory=list)
    proxies: list[FaultProxy] = field(default_factory=list)
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Extra closers (SSE streams, HTTP clients) run when the case ends, last first."""
    streams: list[SseStream] = field(default_factory=list)
    """The SSE streams the case opened: their audit findings fail it like a client's."""
    _names: int = 0

    # ----------------------------------------------------------------- names

    def channel(self, hint: str = "ch") -> str:
        """A channel name of the ``conformance.*`` family no other case or run uses [CONF-1].

        Skips the case when the server does not offer the family (CONF-2 lets production
        servers turn it off).
        """
        if self.server is not None and not self.server.offers("conformance.*"):
            raise CaseSkipped("the server's catalogue has no 'conformance.*' family (CONF-2)")
        self._names += 1
        name = f"conformance.{self.run_id}.{_slug(self.case_id)}.{_slug(hint)}{self._names}"
        return name[:128]

    def require_channel(self, name: str) -> None:
        """Skip the case unless the catalogue lists ``name``."""
        if self.server is None or not self.server.offers(name):
            raise CaseSkipped(
                f"the server's catalogue does not list {name!r}",
                applicable=self.server is None,
            )

    def note(self, text: str) -> None:
        """Explain a step in the transcript (shown with failures)."""
        self.transcript.note(text)

    # ----------------------------------------------------------------- clients

    async def connect(
        self,
        name: str | None = None,
        *,
        url: str | None = None,
        subprotocols: Sequence[str] | None = (SUBPROTOCOL,),
        auto_pong: bool = True,
        headers: Mapping[str, str] | None = None,
        validate: bool = True,
        via: FaultProxy | None = None,
        timeout: float | None = None,
        legacy: bool = False,
        node: int = 0,
    ) -> RawClient:
        """Open a WebSocket (no hello yet); closed by the runner when the case ends.

        ``legacy``: a legacy endpoint (spec legacy.md), frames checked against legacy.json.
        ``node``: which node of the deployment (0: the target, 1.. its ``--peer`` URLs).
        """
        name = name or chr(ord("A") + len(self.clients) % 26)
        target_url = url or self.target.node_url(node)
        if (
            legacy
            and self.target.token
            and not any(key.lower() == "authorization" for key in (headers or {}))
        ):
            # A legacy connection's identity is its HTTP credentials (spec legacy.md).
            headers = {**(headers or {}), "Authorization": f"Bearer {self.target.token}"}
        if via is not None:
            target_url = via.url(target_url)
        client = RawClient(
            target_url,
            name=name,
            transcript=self.transcript,
            subprotocols=subprotocols,
            auto_pong=auto_pong,
            timeout=self.timeout if timeout is None else timeout,
            headers=headers,
            validate=validate,
            catalogue=self.server.catalogue if self.server else None,
            legacy=legacy,
        )
        self.clients.append(client)
        await client.open()
        return client

    async def client(
        self,
        name: str | None = None,
        *,
        token: str | None = None,
        resume: Mapping[str, Any] | None = None,
        auto_pong: bool = True,
        via: FaultProxy | None = None,
        node: int = 0,
    ) -> RawClient:
        """A connected client past the handshake (``welcome`` received), with the run's token;
        ``node``: on which node of the deployment (see :meth:`connect`)."""
        client = await self.connect(name, auto_pong=auto_pong, via=via, node=node)
        await client.hello(token=self.target.token if token is None else token, resume=resume)
        return client

    def hello_frame(self, version: Any = 1, **members: Any) -> dict[str, Any]:
        """A ``hello`` with the run's ``--token`` (when given), for a case that sends it raw."""
        frame: dict[str, Any] = {"type": "hello", "version": version}
        if self.target.token is not None:
            frame["token"] = self.target.token
        frame.update(members)
        return frame

    @property
    def nodes(self) -> int:
        """How many nodes of the deployment the run can reach (1 without ``--peer``)."""
        return len(self.target.nodes)

    async def proxy(self, node: int = 0) -> FaultProxy:
        """A started :class:`FaultProxy` in front of the target (or node ``node`` of its
        deployment); pass it as ``via=`` with the same ``node``."""
        host, port = host_port(self.target.node_url(node))
        proxy = FaultProxy(host, port, timeout=self.timeout)
        self.proxies.append(proxy)
        return await proxy.start()

    # ----------------------------------------------------------------- HTTP publish

    async def http_publish(self, channel: str, data: Any) -> httpx.Response:
        """``POST`` to the publish URL (skips the case when there is none)."""
        if not self.target.publish_url:
            raise CaseSkipped("no --publish-url: server-published channels cannot be driven")
        headers = {}
        if self.target.publish_token:
            headers["Authorization"] = f"Bearer {self.target.publish_token}"
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as http:
            response = await http.post(
                self.target.publish_url, json={"channel": channel, "data": data}, headers=headers
            )
        self.transcript.note(
            f"POST {self.target.publish_url} {channel} {data!r}"
            f" -> {response.status_code} {response.text}"
        )
        self._audit_publish_answer(channel, response)
        return response

    def _audit_publish_answer(self, channel: str, response: httpx.Response) -> None:
        """The answer's body, whatever the case expects of its status [HTTP-4, HTTP-9]."""
        kind = response.headers.get("content-type", "")
        findings = http_error_findings(
            response.status_code, kind, response.text, requirement="HTTP-9", pointer=True
        )
        if response.status_code == 202:
            try:
                body = response.json()
            except ValueError:
                body = None
            if body != {"channel": channel, "delivered": True}:
                raise AuditFailure(
                    f"stream audit: POST /publish answered 202 with {response.text[:200]!r}, "
                    f'not {{"channel": {channel!r}, "delivered": true}}',
                    requirement="HTTP-4",
                )
        for finding in findings:
            self.transcript.note(f"VIOLATION [{finding.requirement}] {finding.message}")
            raise AuditFailure(f"stream audit: {finding.message}", requirement=finding.requirement)

    # ----------------------------------------------------------------- Hypothesis

    def hypothesis_settings(self, **overrides: Any) -> settings:
        """Settings for the run's budget: no deadline (the network is slow), no example database."""
        values: dict[str, Any] = {
            "max_examples": self.budget.max_examples,
            "stateful_step_count": self.budget.step_count,
            "deadline": None,
            "database": None,
            "print_blob": False,
            "suppress_health_check": list(HealthCheck),
        }
        values.update(overrides)
        return settings(**values)

    # ----------------------------------------------------------------- life cycle

    def check(self) -> None:
        """Raise the first frame violation any client saw and no wait has raised yet."""
        for client in self.clients:
            client.check()
        for stream in self.streams:
            stream.check()

    def defer(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the case ends, whatever its outcome."""
        self.cleanups.append(closer)

    async def aclose(self) -> None:
        """Close every client, proxy and deferred resource the case opened."""
        while self.cleanups:
            await self.cleanups.pop()()
        for client in self.clients:
            await client.close()
        for proxy in self.proxies:
            await proxy.close()


def requirement_for(failure: CaseFailed, case_: Case) -> str:
    """The requirement a failure is attributed to: its own, else the case's first."""
    return failure.requirement or case_.requirements[0]
