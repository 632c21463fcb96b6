"""Choose the cases for a server, run them, and turn outcomes into verdicts (spec "Conformance").

The runner probes the target once (a ``hello`` → its ``welcome``: heartbeat, limits,
catalogue), picks profiles from that catalogue unless told otherwise, and runs each selected
case under its own time budget. Cases that mostly wait on the server's clock (hello timeout,
heartbeat) are marked ``waits=True`` and run alongside the others, so a run takes roughly as
long as its busy cases, not the sum of every timeout.
"""

from __future__ import annotations

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109
import asyncio
import contextlib
import fnmatch
import itertools
import time
import traceback
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx

from canaux_conformance.audit import AuditFailure
from canaux_conformance.cases import (
    PROFILES,
    Case,
    CaseContext,
    all_cases,
    budget_named,
    load_suites,
    new_run_id,
    requirement_for,
    run_seed,
)
from canaux_conformance.outcomes import CaseFailed, CaseSkipped, SuiteError, Verdict
from canaux_conformance.results import CaseResult, RunResult, requirement_index
from canaux_conformance.target import ReferenceServer, ServerInfo, Target, TargetError
from canaux_conformance.wire import HandshakeRefused, RawClient, Transcript

__all__ = [
    "NO_PEER",
    "Judged",
    "Judgement",
    "Progress",
    "RunConfig",
    "RunOptions",
    "broken_suite",
    "case_result",
    "case_seed",
    "is_must",
    "judge",
    "probe",
    "run",
    "run_case",
    "run_cases",
    "run_each",
    "select_cases",
]


NO_PEER = "no peer given (--peer: the URL of another node of the same deployment)"
"""Why a case that needs two nodes did not run: the matrix shows its requirements as
"not checked: no peer given", which neither fails nor makes the run incomplete."""


@dataclass(kw_only=True)
class RunOptions:
    """What server and client runs are both given: the case selection, the effort and the
    strictness (the CLI's ``--only``/``--exclude`` and run options); keyword-only."""

    only: Sequence[str] = ()
    exclude: Sequence[str] = ()
    budget: str = "default"
    seed: int | None = None
    strict: bool = False
    timeout: float = 5.0
    """Seconds for one wait (a reply, an event, a close, an adapter message)."""
    case_timeout: float | None = None
    """Seconds one case may take; ``None``: the budget's default."""


@dataclass
class RunConfig(RunOptions):
    """Everything a server run needs; the CLI fills it from its options."""

    url: str | None = None
    sse_url: str | None = None
    publish_url: str | None = None
    publish_token: str | None = None
    token: str | None = None
    other_token: str | None = None
    max_detached_total: int | None = None
    """The server's bound on detached sessions in all (LIMIT-13, not announced); ``None``:
    unknown (read from ``server_args`` when the suite starts the reference itself)."""
    max_handshakes: int | None = None
    """The server's bound on connections in their opening handshake (SECURITY-12, not
    announced); ``None``: unknown (read from ``server_args`` as ``max_detached_total`` is)."""
    profiles: Sequence[str] | None = None
    """``None``: the profiles the welcome implies, plus sse/legacy when their endpoints answer."""
    server_args: Sequence[str] | None = None
    """Options for the reference server started when ``url`` is ``None``."""
    peers: Sequence[str] = ()
    """WebSocket URLs of the other nodes of ``url``'s deployment (spec "Clusters"): the cases
    that need two nodes run only with one, and the stateful machine spreads over them."""


class Progress:
    """Hooks a reporter implements to follow the run; the defaults do nothing."""

    def run_started(self, run: RunResult, cases: Sequence[Case]) -> None:
        """Called once the target is known and the cases are chosen."""

    def case_started(self, case: Case) -> None:
        """Called when a case begins."""

    def case_finished(self, result: CaseResult) -> None:
        """Called with each result, in completion order."""


def _detached_total(config: RunConfig) -> int | None:
    """The LIMIT-13 bound: the one given, else the ``--max-detached-total`` flag of the
    reference server the suite starts (its own command line, not the reference's code)."""
    if config.max_detached_total is not None:
        return config.max_detached_total
    return _server_flag(config, "--max-detached-total")


def _max_handshakes(config: RunConfig) -> int | None:
    """The SECURITY-12 bound on handshakes: the one given, else the reference server's
    ``--max-handshakes`` flag (as :func:`_detached_total`)."""
    if config.max_handshakes is not None:
        return config.max_handshakes
    return _server_flag(config, "--max-handshakes")


def _server_flag(config: RunConfig, name: str) -> int | None:
    """The integer value of flag ``name`` in ``config.server_args``, if it is there."""
    args = list(config.server_args or ())
    for flag, value in itertools.pairwise(args):
        if flag == name and value.isdigit():
            return int(value)
    return None


def _matches(case_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(case_id.upper(), p.upper()) for p in patterns)


def select_cases(
    cases: Sequence[Case], *, only: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[Case]:
    """Cases whose ID matches an ``only`` glob (all when empty) and no ``exclude`` glob."""
    return [
        c
        for c in cases
        if (not only or _matches(c.id, only)) and not (exclude and _matches(c.id, exclude))
    ]


async def probe(target: Target, timeout: float) -> tuple[ServerInfo | None, list[str]]:
    """One ``hello`` to learn the server's welcome; notes explain what went wrong, if anything."""
    notes: list[str] = []
    client = RawClient(target.ws_url, name="probe", transcript=Transcript(), timeout=timeout)
    try:
        await client.open()
        welcome = await client.hello(token=target.token)
    except HandshakeRefused as exc:
        if exc.status is None and "cannot open" in exc.message:
            raise TargetError(exc.message) from exc
        notes.append(f"probe: {exc}")
        return None, notes
    except CaseFailed as exc:
        notes.append(f"probe: no usable welcome: {exc}")
        return None, notes
    finally:
        await client.close()
    return ServerInfo(welcome), notes


async def _probe_peers(target: Target, server: ServerInfo | None, timeout: float) -> list[str]:
    """One ``hello`` to each peer: it must answer (else nothing can be checked), and what its
    welcome announces differently from the target's is noted [CLUSTER-1]."""
    notes: list[str] = []
    for url in target.peers:
        peer = Target.from_url(url, token=target.token)
        info, problems = await probe(peer, timeout)
        notes += [f"peer {url}: {p}" for p in problems]
        if info is None or server is None:
            continue
        differs = [
            what
            for what, mine, theirs in (
                ("catalogue", sorted(server.channel_names), sorted(info.channel_names)),
                ("limits", dict(server.limits), dict(info.limits)),
                ("heartbeat_ms", server.heartbeat_ms, info.heartbeat_ms),
            )
            if mine != theirs
        ]
        notes.append(
            f"peer {url}: welcome "
            + (f"differs in {', '.join(differs)}" if differs else "announces the same")
        )
    return notes


def _credentials(target: Target) -> dict[str, str]:
    """The HTTP credentials of the run's identity (SSE and legacy endpoints: sse.md, legacy.md)."""
    return {"Authorization": f"Bearer {target.token}"} if target.token else {}


async def _endpoint_answers_sse(url: str, timeout: float, headers: dict[str, str]) -> bool:
    """True when ``GET url?channels=system`` (or a conformance channel) opens an event stream."""
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, trust_env=False) as http,
            http.stream("GET", url, params={"channels": "system"}, headers=headers) as response,
        ):
            kind = response.headers.get("content-type", "")
            # 400 unknown_channel still proves the endpoint speaks the SSE binding (SSE-3).
            return kind.startswith("text/event-stream") or (
                response.status_code == 400 and "json" in kind
            )
    except (httpx.HTTPError, OSError):
        return False


async def _endpoint_accepts_ws(url: str, timeout: float, headers: dict[str, str]) -> bool:
    client = RawClient(
        url, name="probe", subprotocols=None, timeout=timeout, validate=False, headers=headers
    )
    try:
        await client.open()
    except CaseFailed:
        return False
    await client.close()
    return True


async def _detect_endpoints(target: Target, config: RunConfig) -> tuple[Target, list[str]]:
    """Fill in the SSE and legacy endpoints that actually answer (explicit URLs are kept)."""
    notes: list[str] = []
    derived = Target.from_url(target.ws_url, derive=True)
    headers = _credentials(target)
    sse = target.sse_url
    if (
        sse is None
        and derived.sse_url
        and await _endpoint_answers_sse(derived.sse_url, 3.0, headers)
    ):
        sse = derived.sse_url
    legacy_chat, legacy_system = target.legacy_chat_url, target.legacy_system_url
    chat_url, system_url = derived.legacy_chat_url, derived.legacy_system_url
    if legacy_chat is None and chat_url and await _endpoint_accepts_ws(chat_url, 3.0, headers):
        legacy_chat = chat_url
    if (
        legacy_system is None
        and system_url
        and await _endpoint_accepts_ws(system_url, 3.0, headers)
    ):
        legacy_system = system_url
    notes.append(f"SSE endpoint: {sse or 'none found'}")
    notes.append(f"legacy endpoints: {legacy_chat or '-'} {legacy_system or '-'}")
    changed = target.with_endpoints(
        sse_url=sse, legacy_chat_url=legacy_chat, legacy_system_url=legacy_system
    )
    return changed, notes


def _profiles_for(config: RunConfig, server: ServerInfo | None, target: Target) -> list[str]:
    if config.profiles:
        unknown = sorted(set(config.profiles) - set(PROFILES))
        if unknown:
            raise ValueError(f"unknown profile(s): {', '.join(unknown)}; known: {PROFILES}")
        return [p for p in PROFILES if p in config.profiles]
    profiles = server.implied_profiles() if server else ["core"]
    if target.sse_url:
        profiles.append("sse")
    if target.legacy_chat_url or target.legacy_system_url:
        profiles.append("legacy")
    return profiles


def broken_suite(
    module: str, trace: str, *, id_prefix: str = "SUITE-", what: str = "suite"
) -> CaseResult:
    """An ``error`` result standing for the cases of a suite module that cannot be imported
    (the client suite's: ``id_prefix="CL-SUITE-"``, ``what="client suite"``)."""
    return CaseResult(
        id=id_prefix + module.upper().replace("_", "-"),
        title=f"{what} module {module!r} loads",
        profile="core",
        level="MUST",
        requirements=(),
        verdict=Verdict.ERROR,
        message=f"the {what} module {module!r} failed to import; its cases did not run",
        traceback=trace,
    )


def case_result(
    case: Case,
    verdict: Verdict,
    *,
    message: str = "",
    requirement: str | None = None,
    started: float | None = None,
    transcript: Transcript | None = None,
    trace: str | None = None,
    applicable: bool = True,
    unchecked: bool = False,
) -> CaseResult:
    """The result of ``case`` (server or client): what the registry says of it, the verdict,
    the time since ``started`` (``time.perf_counter()``) and what ``transcript`` recorded."""
    return CaseResult(
        id=case.id,
        title=case.title,
        profile=case.profile,
        level=case.level,
        requirements=case.requirements,
        verdict=verdict,
        message=message,
        requirement=requirement,
        duration=0.0 if started is None else time.perf_counter() - started,
        transcript=transcript.as_list() if transcript is not None else [],
        transcript_text=transcript.render() if transcript is not None else "",
        replay=transcript.replay() if transcript is not None else {},
        traceback=trace,
        applicable=applicable,
        unchecked=unchecked,
    )


def is_must(case: Case, requirement: str) -> bool:
    """A failure is a MUST failure when the case is a MUST case and the requirement it breaks is
    not a SHOULD or MAY in the spec's requirement index (unknown IDs keep the case's level)."""
    level = requirement_index().get(requirement, {}).get("level", "MUST")
    return case.level == "MUST" and level == "MUST"


def case_seed(seed: int, case_id: str) -> int:
    """The seed of case ``case_id`` in a run of seed ``seed`` (server and client runs): each
    case gets its own stream, stable for a given run seed and case ID."""
    return (seed ^ zlib.crc32(case_id.encode())) & 0xFFFFFFFF


def _audit_finding(ctx: CaseContext, failure: CaseFailed) -> CaseFailed | None:
    """The first stream audit finding of the case, unless the case failed on a finding."""
    found = [v for client in ctx.clients for v in client.violations]
    if any(failure is seen for seen in found):
        return None  # the case failed on a finding already: that one stands
    return next((v for v in found if isinstance(v, AuditFailure)), None)


class Judged(Protocol):
    """What :func:`judge` needs of a case's context (a server or a client case's)."""

    @property
    def transcript(self) -> Transcript: ...

    def check(self) -> None:
        """Raise the first finding no wait has raised yet."""

    async def aclose(self) -> None:
        """Close everything the case opened."""


@dataclass
class Judgement:
    """How one case ended: its verdict and what explains it, before it becomes a result."""

    started: float
    """``time.perf_counter()`` when the case began."""
    verdict: Verdict = Verdict.PASS
    message: str = ""
    requirement: str | None = None
    trace: str | None = None
    applicable: bool = True

    def failed(self, case: Case, failure: CaseFailed) -> None:
        """The case broke ``failure``'s requirement: fail (a MUST) or non-strict."""
        self.requirement = requirement_for(failure, case)
        self.message = failure.message
        self.verdict = Verdict.FAIL if is_must(case, self.requirement) else Verdict.NON_STRICT

    def error(self, message: str) -> None:
        """The suite (or the set-up) broke, not the party under test."""
        self.verdict = Verdict.ERROR
        self.message = message
        self.trace = traceback.format_exc()

    def result(self, case: Case, transcript: Transcript) -> CaseResult:
        return case_result(
            case,
            self.verdict,
            message=self.message,
            requirement=self.requirement,
            started=self.started,
            transcript=transcript,
            trace=self.trace,
            applicable=self.applicable,
        )


async def judge(
    case: Case,
    ctx: Judged,
    *,
    case_timeout: float,
    close_within: float,
    party: str,
    root_cause: Callable[[CaseFailed], CaseFailed | None],
    recheck_skipped: bool = False,
) -> Judgement:
    """Run ``case`` on ``ctx`` within ``case_timeout`` seconds, close what it opened (within
    ``close_within``), and derive its verdict (a server or a client case).

    ``party``: who is under test (``"server"``, ``"client"``), named when the suite broke
    instead. ``root_cause``: the finding that explains a failure better than the failure itself
    (a frame the audit rejected, which the case then never saw), if any. ``recheck_skipped``:
    a finding seen before a skip still fails the case.
    """
    judged = Judgement(started=time.perf_counter())
    try:
        try:
            async with asyncio.timeout(case_timeout):
                await case.fn(ctx)
                ctx.check()  # a late invalid frame still counts
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(close_within):
                    await ctx.aclose()
        ctx.check()  # the audit: frames that arrived while the connections closed
    except CaseFailed as failure:
        # A frame the audit rejected is the root cause: the case usually failed because that
        # frame never reached it (audit.py).
        judged.failed(case, root_cause(failure) or failure)
    except CaseSkipped as skipped:
        judged.verdict, judged.message = Verdict.SKIPPED, skipped.reason
        judged.applicable = skipped.applicable
        if recheck_skipped:
            try:
                ctx.check()  # a leak seen before the skip still fails the case (audit.py)
            except CaseFailed as failure:
                judged.failed(case, failure)
    except SuiteError as exc:
        # The suite's own mistake (e.g. it broke a limit the server announced), or its set-up's
        # (an adapter that broke its protocol): not a finding.
        judged.error(f"{exc.culprit}, not the {party}: {exc.message}")
    except TimeoutError:
        judged.error(f"the case did not finish within its {case_timeout:g}s budget")
    except Exception as exc:
        judged.error(f"the suite broke: {type(exc).__name__}: {exc}")
    return judged


async def run_case(case: Case, ctx: CaseContext, *, case_timeout: float) -> CaseResult:
    """Run one server case and derive its verdict."""
    judged = await judge(
        case,
        ctx,
        case_timeout=case_timeout,
        close_within=ctx.timeout * 2,
        party="server",
        root_cause=lambda failure: _audit_finding(ctx, failure),
        recheck_skipped=True,
    )
    return judged.result(case, ctx.transcript)


async def run_each(
    cases: Sequence[Case],
    run_one: Callable[[Case], Awaitable[CaseResult]],
    *,
    skip: Callable[[Case], str | None] = lambda _: None,
    unchecked: Callable[[Case], str | None] = lambda _: None,
    progress: Progress | None = None,
    at_once: int | None = None,
    waiting_first: bool = False,
) -> list[CaseResult]:
    """Run ``cases`` with ``run_one`` (server or client cases): the waiting ones
    (:attr:`Case.waits`) alongside each other, at most ``at_once`` of them at a time (no bound
    when ``None``), the rest one after another, meanwhile or (``waiting_first``) after them.

    ``skip``: why a case's profile is not tested (skipped). ``unchecked``: why the run
    cannot run a case at all (it needs a second node and no peer was given): skipped too,
    but marked ``unchecked``, so that it says nothing about the requirements it cites.
    Results come back in the order of ``cases`` whatever the completion order.
    """
    progress = progress or Progress()
    results: dict[str, CaseResult] = {}
    gate = asyncio.Semaphore(at_once) if at_once is not None else None

    async def one(case: Case) -> None:
        progress.case_started(case)
        reason = skip(case)
        missing = None if reason is not None else unchecked(case)
        if reason is not None or missing is not None:
            # A profile not tested, or a case this run cannot run (no peer): its cases say
            # nothing about the requirements they cite.
            result = case_result(
                case, Verdict.SKIPPED, message=reason or missing or "", applicable=False,
                unchecked=missing is not None,
            )  # fmt: skip
        else:
            result = await run_one(case)
        results[case.id] = result
        progress.case_finished(result)

    async def waiting(case: Case) -> None:
        if gate is None:
            await one(case)
            return
        async with gate:
            await one(case)

    background = [asyncio.create_task(waiting(c)) for c in cases if c.waits]
    try:
        if waiting_first:
            await asyncio.gather(*background)
        for case in cases:
            if not case.waits:
                await one(case)
        await asyncio.gather(*background)
    finally:
        for task in background:
            task.cancel()
    return [results[c.id] for c in cases if c.id in results]


async def run_cases(
    cases: Sequence[Case],
    *,
    make_context: Callable[[Case], CaseContext],
    case_timeout: Callable[[Case], float],
    skip: Callable[[Case], str | None] = lambda _: None,
    unchecked: Callable[[Case], str | None] = lambda _: None,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Run server ``cases`` (:func:`run_each` with :func:`run_case`): waiting ones in the
    background, the rest one after another."""

    async def run_one(case: Case) -> CaseResult:
        return await run_case(case, make_context(case), case_timeout=case_timeout(case))

    return await run_each(cases, run_one, skip=skip, unchecked=unchecked, progress=progress)


async def run(config: RunConfig, *, progress: Progress | None = None) -> RunResult:
    """A whole run: start or reach the target, probe, select, run, collect."""
    budget = budget_named(config.budget)
    if config.peers and config.url is None:
        raise ValueError("a peer is another node of the target's deployment: give the target URL")
    seed = run_seed(config.seed)
    run_id = new_run_id()
    started = time.perf_counter()
    reference: ReferenceServer | None = None
    try:
        if config.url is None:
            reference = ReferenceServer() if config.server_args is None else (
                ReferenceServer(args=tuple(config.server_args))
            )  # fmt: skip
            base = await reference.start()
            target = Target.from_url(
                base.ws_url,
                sse_url=config.sse_url,
                publish_url=config.publish_url,
                publish_token=config.publish_token or base.publish_token,
                token=config.token,
                other_token=config.other_token,
                max_detached_total=_detached_total(config),
                max_handshakes=_max_handshakes(config),
                derive=True,
                reference=True,
            )
        else:
            target = Target.from_url(
                config.url,
                sse_url=config.sse_url,
                publish_url=config.publish_url,
                publish_token=config.publish_token,
                token=config.token,
                other_token=config.other_token,
                peers=config.peers,
                max_detached_total=config.max_detached_total,
                max_handshakes=config.max_handshakes,
            )
        server, notes = await probe(target, config.timeout)
        notes += await _probe_peers(target, server, config.timeout)
        target, endpoint_notes = await _detect_endpoints(target, config)
        notes += endpoint_notes
        if server is not None:
            names = ", ".join(server.channel_names) or "(empty)"
            notes.append(f"catalogue: {names}; heartbeat {server.heartbeat_ms} ms")
        profiles = _profiles_for(config, server, target)
        broken = load_suites()
        cases = select_cases(all_cases(), only=config.only, exclude=config.exclude)
        result = RunResult(
            target_url=target.ws_url,
            run_id=run_id,
            seed=seed,
            budget=budget.name,
            strict=config.strict,
            started=datetime.now(UTC),
            profiles=profiles,
            reference_server=reference is not None,
            welcome=dict(server.welcome) if server else None,
            notes=notes,
            peers=list(target.peers),
        )
        needs_peer = [c.id for c in cases if c.nodes > len(target.nodes)]
        if needs_peer:
            result.notes.append(
                f"clusters: not checked: {NO_PEER}; {len(needs_peer)} case(s) need two nodes "
                f"({', '.join(needs_peer)})"
            )
        (progress or Progress()).run_started(result, cases)

        def make_context(case: Case) -> CaseContext:
            return CaseContext(
                target=target,
                case_id=case.id,
                run_id=run_id,
                seed=case_seed(seed, case.id),
                budget=budget,
                timeout=config.timeout,
                server=server,
            )

        def skip(case: Case) -> str | None:
            if case.profile in profiles:
                return None
            if config.profiles:
                return f"profile {case.profile!r} not selected (--profile)"
            return f"profile {case.profile!r} not offered by this server"

        def unchecked(case: Case) -> str | None:
            return NO_PEER if case.nodes > len(target.nodes) else None

        def case_timeout(case: Case) -> float:
            return budget.timeout_for(case, config.case_timeout)

        result.results = [broken_suite(name, trace) for name, trace in sorted(broken.items())]
        result.results += await run_cases(
            cases, make_context=make_context, case_timeout=case_timeout, skip=skip,
            unchecked=unchecked, progress=progress,
        )  # fmt: skip
        result.duration = time.perf_counter() - started
        return result
    finally:
        if reference is not None:
            await reference.stop()
