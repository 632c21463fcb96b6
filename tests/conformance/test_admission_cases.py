"""HS-13 and HS-14 against the reference and against its broken twins (handshake.md HANDSHAKE-2,
security.md SECURITY-12).

HS-13 sends many hellos at once; the broken server never resumes a connection whose hello had to
wait for a later pass of its event loop. HS-14 needs the bound on handshakes, which welcome does
not announce (``--max-handshakes``, or the flag of a reference the suite starts); the broken
server keeps counting upgraded connections as handshakes. Both twins patch the reference's
admission (broken/admission_faults.py): each case must fail its twin on its requirement and pass
the reference.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from canaux.protocol.limits import Limits
from canaux.server import run as server_run
from canaux.server.config import ServerConfig
from canaux.server.testing import running_server
from canaux_conformance.cli import build_parser, config_from_args
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

if TYPE_CHECKING:
    from tests.conformance.broken.admission_faults import (
        hellos_never_resumed,
        upgrades_stay_counted,
    )
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.admission_faults import hellos_never_resumed, upgrades_stay_counted

MAX_HANDSHAKES = 16
"""The bound on handshakes of the servers here: small, so HS-14 opens 17 connections."""
CLOCKS = ("--conformance", "--heartbeat-ms", "1000", "--hello-timeout-ms", "1500")


Outcome = tuple[Verdict, str | None, str]


async def _case(case_id: str, *, told: int | None = MAX_HANDSHAKES) -> Outcome:
    config = ServerConfig(
        conformance=True,
        limits=Limits(heartbeat_ms=1000, hello_timeout_ms=1500),
        max_handshakes=MAX_HANDSHAKES,
    )
    async with running_server(config) as server:
        result = await run(
            RunConfig(
                url=f"ws://127.0.0.1:{server.port}/ws",
                only=(case_id,),
                budget="quick",
                seed=20261202,
                timeout=3.0,
                max_handshakes=told,
            )
        )
    (outcome,) = result.results
    return outcome.verdict, outcome.requirement, outcome.message


@pytest.mark.parametrize("case_id", ["HS-13", "HS-14"])
def test_the_reference_passes(case_id: str) -> None:
    verdict, _, message = asyncio.run(_case(case_id))
    assert verdict is Verdict.PASS, message


def test_hellos_at_once_pass_without_the_bound_too() -> None:
    verdict, _, message = asyncio.run(_case("HS-13", told=None))
    assert verdict is Verdict.PASS, message


def test_a_server_that_never_resumes_a_waiting_hello_fails_hs_13_citing_handshake_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_run, "admission_ws_protocol", hellos_never_resumed())
    verdict, requirement, message = asyncio.run(_case("HS-13"))
    assert verdict is Verdict.FAIL, message
    assert requirement == "HANDSHAKE-2", message


def test_a_server_that_counts_upgrades_as_handshakes_fails_hs_14_citing_security_12(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_run, "admission_protocol", upgrades_stay_counted())
    verdict, requirement, message = asyncio.run(_case("HS-14"))
    assert verdict is Verdict.FAIL, message
    assert requirement == "SECURITY-12", message


def test_the_option_reaches_the_run_config() -> None:
    args = build_parser().parse_args(["ws://h:1/ws", "--max-handshakes", "8"])
    assert config_from_args(args).max_handshakes == 8
    assert "--max-handshakes" in build_parser().format_help()


def test_without_the_bound_hs_14_says_it_cannot_apply() -> None:
    verdict, _, message = asyncio.run(_case("HS-14", told=None))
    assert verdict is Verdict.SKIPPED, message
    assert "--max-handshakes" in message


@pytest.mark.slow
def test_the_bound_is_read_from_the_flags_of_a_reference_the_suite_starts() -> None:
    flags = (*CLOCKS, "--max-handshakes", str(MAX_HANDSHAKES))
    result = asyncio.run(run(RunConfig(server_args=flags, only=("HS-14",), budget="quick")))
    (outcome,) = result.results
    assert outcome.verdict is Verdict.PASS, outcome.message
    assert f"{MAX_HANDSHAKES + 1} connections" in outcome.transcript_text, outcome.message
