"""DETACH-01 (LIMIT-13) needs the bound welcome does not announce: how the suite learns it.

The operator gives it (``--max-detached-total``), or the suite reads it from the flags of the
reference server it starts; without it the case is skipped as not applicable, saying why.
The proof of power (setup ``detached-total``) holds the case to catching a broken server.
"""

from __future__ import annotations

import asyncio

import pytest

from canaux_conformance.cli import build_parser, config_from_args
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

CLOCKS = ("--conformance", "--heartbeat-ms", "1000", "--hello-timeout-ms", "1500")


def test_the_option_reaches_the_run_config() -> None:
    args = build_parser().parse_args(["ws://h:1/ws", "--max-detached-total", "4"])
    assert config_from_args(args).max_detached_total == 4
    assert "--max-detached-total" in build_parser().format_help()


def _verdict(config: RunConfig) -> tuple[Verdict, bool, str]:
    result = asyncio.run(run(config))
    (only,) = result.results
    return only.verdict, only.applicable, only.message


@pytest.mark.slow
def test_the_reference_passes_with_the_bound_read_from_its_flags() -> None:
    flags = (*CLOCKS, "--max-detached-total", "4", "--max-detached-sessions", "4")
    verdict, _, message = _verdict(
        RunConfig(server_args=flags, only=("DETACH-01",), budget="quick")
    )
    assert verdict is Verdict.PASS, message


@pytest.mark.slow
def test_without_the_bound_the_case_says_it_cannot_apply() -> None:
    verdict, applicable, message = _verdict(
        RunConfig(server_args=CLOCKS, only=("DETACH-01",), budget="quick")
    )
    assert (verdict, applicable) == (Verdict.SKIPPED, False), message
    assert "--max-detached-total" in message
