"""Tests of ``canaux-conformance client`` (conformance/canaux_conformance/client/cli.py)."""

from __future__ import annotations

import subprocess
import sys

from canaux_conformance.client.cli import build_client_parser


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "canaux_conformance", "client", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_keeps_the_server_modes_run_options() -> None:
    text = build_client_parser().format_help()
    for option in ("--quick", "--thorough", "--strict", "--seed", "--only", "--exclude",
                   "--report-dir", "--junit", "--timeout", "--list"):  # fmt: skip
        assert option in text
    assert "-- COMMAND" in text or "COMMAND ARGS" in text


def test_list_shows_client_cases_only() -> None:
    result = _cli("--list")
    assert result.returncode == 0, result.stderr
    ids = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert ids
    assert all(case_id.startswith("CL-") for case_id in ids)


def test_an_adapter_that_cannot_start_is_incomplete_not_a_failure() -> None:
    result = _cli("--only", "CL-HS-01", "--", "/nonexistent/adapter")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot start the adapter" in result.stdout


def test_the_server_mode_help_points_to_the_client_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "canaux_conformance", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "canaux-conformance client" in result.stdout


def test_a_timeout_that_is_not_positive_is_a_usage_error_as_in_server_mode() -> None:
    result = _cli("--timeout", "0")
    assert result.returncode == 64
    assert "canaux-conformance client: error: --timeout must be positive" in result.stderr
