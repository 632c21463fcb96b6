"""Tests of the runner: case selection, verdicts, concurrency of waiting cases, whole runs.

Whole runs go against (1) a scripted server that gets the handshake wrong on purpose and
(2) the reference server, started by the runner itself as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from canaux_conformance.cases import BUDGETS, Case, CaseContext, all_cases
from canaux_conformance.outcomes import CaseFailed, CaseSkipped, SuiteError, Verdict
from canaux_conformance.results import CaseResult, requirement_index
from canaux_conformance.runner import (
    RunConfig,
    case_result,
    judge,
    run,
    run_cases,
    run_each,
    select_cases,
)
from canaux_conformance.target import Target
from canaux_conformance.wire import SUBPROTOCOL

WELCOME: dict[str, Any] = {
    "type": "welcome",
    "version": 1,
    "session": "q1ZpX8vB3kT0aLm2Nc7RdA",
    "resumed": False,
    "seq": 0,
    "heartbeat_ms": 15000,
    "limits": {
        "max_frame_bytes": 65536,
        "max_subscriptions": 64,
        "max_rate": 200,
        "resume_window_ms": 120000,
        "resume_buffer": 1024,
    },
    "channels": [
        {
            "name": "conformance.*",
            "publish": "client",
            "schema": "https://canaux.dev/schemas/v1/channels/conformance.json",
        }
    ],
}


def _case(case_id: str, fn: Any, level: str = "MUST", waits: bool = False) -> Case:
    return Case(case_id, ("OPS-1",), level, "core", case_id.lower(), fn, None, waits)  # type: ignore[arg-type]


def _bounded(coro: Awaitable[Any], seconds: float = 60) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(seconds):
            return await coro

    return asyncio.run(main())


async def _run(cases: list[Case], case_timeout: float = 5.0) -> dict[str, CaseResult]:
    target = Target.from_url("ws://127.0.0.1:9/ws")
    results = await run_cases(
        cases,
        make_context=lambda c: CaseContext(target=target, case_id=c.id, timeout=1.0),
        case_timeout=lambda _: case_timeout,
    )
    return {r.id: r for r in results}


class TestSelection:
    def test_only_and_exclude_globs_on_ids(self) -> None:
        cases = [_case(i, None) for i in ("HS-01", "HS-02", "ENV-TEXT-NAN", "LIM-01")]
        chosen = select_cases(cases, only=["hs-*", "ENV-*"], exclude=["HS-02"])
        assert [c.id for c in chosen] == ["HS-01", "ENV-TEXT-NAN"]
        assert [c.id for c in select_cases(cases)] == ["HS-01", "HS-02", "ENV-TEXT-NAN", "LIM-01"]


class TestVerdicts:
    def test_each_outcome_maps_to_its_verdict(self) -> None:
        async def passes(ctx: CaseContext) -> None:
            ctx.note("fine")

        async def fails(ctx: CaseContext) -> None:
            raise CaseFailed("wrong code", requirement="OPS-8")

        async def skips(ctx: CaseContext) -> None:
            raise CaseSkipped("feature absent")

        async def breaks(ctx: CaseContext) -> None:
            raise KeyError("suite bug")

        async def hangs(ctx: CaseContext) -> None:
            await asyncio.Event().wait()

        results = _bounded(
            _run(
                [
                    _case("T-PASS", passes),
                    _case("T-FAIL", fails),
                    _case("T-SHOULD", fails, level="SHOULD"),
                    _case("T-SKIP", skips),
                    _case("T-ERROR", breaks),
                    _case("T-HANG", hangs),
                ],
                case_timeout=0.5,
            )
        )
        assert results["T-PASS"].verdict is Verdict.PASS
        assert results["T-FAIL"].verdict is Verdict.FAIL
        assert results["T-FAIL"].requirement == "OPS-8"
        assert results["T-SHOULD"].verdict is Verdict.NON_STRICT
        assert results["T-SKIP"].verdict is Verdict.SKIPPED
        assert results["T-SKIP"].message == "feature absent"
        assert results["T-ERROR"].verdict is Verdict.ERROR
        assert "KeyError" in (results["T-ERROR"].traceback or "")
        assert results["T-HANG"].verdict is Verdict.ERROR
        assert "budget" in results["T-HANG"].message
        assert "fine" in results["T-PASS"].transcript_text

    def test_waiting_cases_run_alongside_the_others(self) -> None:
        """Each case needs the other to make progress: only concurrent execution passes both."""
        ready = asyncio.Event()
        answered = asyncio.Event()

        async def waiting(ctx: CaseContext) -> None:
            ready.set()
            async with asyncio.timeout(2):
                await answered.wait()

        async def busy(ctx: CaseContext) -> None:
            async with asyncio.timeout(2):
                await ready.wait()
            answered.set()

        results = _bounded(_run([_case("T-BUSY", busy), _case("T-WAIT", waiting, waits=True)]))
        assert [r.verdict for r in results.values()] == [Verdict.PASS, Verdict.PASS]
        assert list(results) == ["T-BUSY", "T-WAIT"]  # reported in case order

    def test_waiting_cases_first_a_few_at_a_time_then_the_rest_alone(self) -> None:
        """The client runs' order (run_each(at_once=..., waiting_first=True))."""
        running: list[str] = []
        log: list[tuple[str, int]] = []
        cases = [_case(f"T-W{i}", None, waits=True) for i in range(5)]
        cases.insert(1, _case("T-ALONE", None))

        async def run_one(case: Case) -> CaseResult:
            running.append(case.id)
            log.append((case.id, len(running)))
            await asyncio.sleep(0.01)  # lets the other waiting cases start meanwhile
            running.remove(case.id)
            return case_result(case, Verdict.PASS)

        results = _bounded(run_each(cases, run_one, at_once=2, waiting_first=True))
        assert [r.id for r in results] == [c.id for c in cases]
        assert max(n for _, n in log) == 2
        assert log[-1] == ("T-ALONE", 1)


class TestJudge:
    def test_a_suite_error_names_its_culprit_and_the_party_under_test(self) -> None:
        class SetUpError(SuiteError):
            culprit = "the set-up broke"

        async def breaks(ctx: CaseContext) -> None:
            raise SetUpError("no adapter")

        async def suite_breaks(ctx: CaseContext) -> None:
            raise SuiteError("over the limit")

        async def one(fn: Any) -> str:
            ctx = CaseContext(target=Target.from_url("ws://127.0.0.1:9/ws"), timeout=1.0)
            judged = await judge(
                _case("T-JUDGE", fn), ctx, case_timeout=1.0, close_within=1.0, party="client",
                root_cause=lambda _: None,
            )  # fmt: skip
            assert judged.verdict is Verdict.ERROR
            return judged.message

        assert _bounded(one(breaks)) == "the set-up broke, not the client: no adapter"
        assert _bounded(one(suite_breaks)) == "the suite broke, not the client: over the limit"


class TestRegistry:
    def test_every_case_has_a_title_and_known_requirement_ids(self) -> None:
        index = requirement_index()
        if not index:
            pytest.skip("schemas/requirements.json not generated yet")
        unknown = {
            case.id: [r for r in case.requirements if r not in index]
            for case in all_cases()
            if any(r not in index for r in case.requirements)
        }
        assert unknown == {}
        assert all(case.title for case in all_cases())

    def test_every_client_vector_has_a_case(self) -> None:
        from canaux_conformance.suites.envelope import ENVELOPE_CASES, client_vectors

        assert len(ENVELOPE_CASES) == len(client_vectors()) > 50
        ids = {case.id for case in all_cases()}
        assert set(ENVELOPE_CASES) <= ids


@asynccontextmanager
async def lax_server() -> AsyncIterator[str]:
    """Plain pub/sub that welcomes ANY hello (version 99 too) and never closes, pings or limits."""
    subscribers: dict[str, set[ServerConnection]] = {}
    seqs: dict[ServerConnection, int] = {}

    def only_ws(_: ServerConnection, request: Request) -> Response | None:
        return None if request.path == "/ws" else Response(404, "Not Found", Headers(), b"")

    async def handler(ws: ServerConnection) -> None:
        seqs[ws] = 0
        async for message in ws:
            frame = json.loads(message)  # accepts NaN, crashes (1011) on a non-object
            kind = frame.get("type")
            if kind == "hello":
                await ws.send(json.dumps({**WELCOME, "heartbeat_ms": 1000}))
            elif kind == "ping":
                await ws.send(json.dumps({"type": "pong", "nonce": frame.get("nonce", "")}))
            elif kind in ("subscribe", "publish"):
                await ws.send(json.dumps({"type": "ack", "id": frame["id"]}))
                channel = frame["channel"]
                if kind == "subscribe":
                    subscribers.setdefault(channel, set()).add(ws)
                    continue
                for peer in list(subscribers.get(channel, ())):
                    seqs[peer] += 1
                    event = {"type": "event", "seq": seqs[peer], "channel": channel}
                    await peer.send(json.dumps({**event, "data": frame["data"]}))

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        process_request=only_ws,
        ping_interval=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


def test_run_against_a_lax_server_finds_each_broken_requirement() -> None:
    """Proof of power for the handshake, limit, heartbeat and envelope cases: a server that
    never closes, never pings and never limits fails each of them, on the right requirement."""
    expected = {
        "HS-01": (Verdict.PASS, None),
        "HS-05": (Verdict.FAIL, "HANDSHAKE-5"),
        "HS-07": (Verdict.FAIL, "HANDSHAKE-4"),
        "LIM-01": (Verdict.FAIL, "LIMIT-2"),
        "LIM-04": (Verdict.FAIL, "LIMIT-3"),
        "HB-01": (Verdict.FAIL, "HEARTBEAT-1"),
        "HB-03": (Verdict.FAIL, "HEARTBEAT-3"),
        "ENV-TEXT-NAN": (Verdict.FAIL, "TRANSPORT-5"),
    }

    async def main() -> None:
        async with lax_server() as url:
            config = RunConfig(url=url, only=list(expected), timeout=1.0, seed=7, budget="quick")
            result = await run(config)
        verdicts = {r.id: (r.verdict, r.requirement) for r in result.results}
        assert verdicts == expected, {r.id: r.message for r in result.results}
        assert result.profiles == ["core"]
        assert result.seed == 7
        assert result.exit_status == 1
        failed = next(r for r in result.results if r.id == "HS-05")
        assert failed.replay["A"] == [{"type": "hello", "version": 99}]

    _bounded(main())


@pytest.mark.slow
def test_run_against_the_reference_server_subprocess() -> None:
    """The runner starts `python -m canaux serve` itself and checks handshake basics on it."""
    cases = ["HS-01", "HS-02", "HS-05", "HS-06", "HS-07", "HS-08", "HS-09", "HS-10", "LIM-01"]

    async def main() -> None:
        result = await run(RunConfig(only=cases, budget="quick", timeout=5.0))
        assert result.reference_server
        assert "conformance.*" in [c["name"] for c in (result.welcome or {})["channels"]]
        verdicts = {r.id: r.verdict for r in result.results}
        problems = {r.id: r.message for r in result.results if r.verdict is not Verdict.PASS}
        assert problems == {}, problems
        assert set(verdicts) == set(cases)
        assert set(result.profiles) >= {"core", "chat", "playqueue", "system", "progress"}

    _bounded(main(), seconds=120)


def test_budgets_grow_from_quick_to_thorough() -> None:
    quick, default, thorough = BUDGETS["quick"], BUDGETS["default"], BUDGETS["thorough"]
    assert quick.max_examples < default.max_examples < thorough.max_examples
    assert quick.step_count < default.step_count < thorough.step_count


def test_a_suite_module_that_cannot_load_is_an_error_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib as real_importlib
    import pkgutil

    real_iter = pkgutil.iter_modules
    real_import = real_importlib.import_module

    def iter_modules(path: Any) -> Any:
        yield from real_iter(path)
        yield pkgutil.ModuleInfo(None, "half_written", False)  # type: ignore[arg-type]

    def import_module(name: str) -> Any:
        if name.endswith(".half_written"):
            raise SyntaxError("unexpected EOF while parsing")
        return real_import(name)

    monkeypatch.setattr(pkgutil, "iter_modules", iter_modules)
    monkeypatch.setattr(real_importlib, "import_module", import_module)

    async def main() -> None:
        async with lax_server() as url:
            result = await run(RunConfig(url=url, only=["HS-01"], timeout=1.0))
        verdicts = {r.id: r.verdict for r in result.results}
        assert verdicts == {"SUITE-HALF-WRITTEN": Verdict.ERROR, "HS-01": Verdict.PASS}
        assert "SyntaxError" in (result.results[0].traceback or "")
        assert result.exit_status == 2

    _bounded(main())
