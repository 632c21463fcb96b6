"""Tests of the ``canaux-conformance`` command line (spec index.md "Conformance")."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from canaux_conformance.cli import build_parser, config_from_args, main


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "canaux_conformance", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestOptions:
    def test_help_shows_a_ci_example_and_the_exit_statuses(self) -> None:
        text = build_parser().format_help()
        for option in ("--sse-url", "--profile", "--only", "--exclude", "--report-dir", "--junit",
                       "--seed", "--quick", "--thorough", "--strict", "--publish-url",
                       "--publish-token", "--token", "--other-token", "--timeout"):  # fmt: skip
            assert option in text
        assert "--junit build/conformance.xml" in text
        assert "Exit 0 iff no MUST failed" in text

    def test_options_fill_the_run_config(self) -> None:
        args = build_parser().parse_args(
            ["ws://h:1/ws", "--profile", "core,chat", "--profile", "sse", "--only", "HS-*",
             "--exclude", "HS-06", "--seed", "5", "--thorough", "--strict", "--timeout", "2"]
        )  # fmt: skip
        config = config_from_args(args)
        assert config.url == "ws://h:1/ws"
        assert config.profiles == ["core", "chat", "sse"]
        assert (config.only, config.exclude) == (["HS-*"], ["HS-06"])
        assert (config.seed, config.budget, config.strict, config.timeout) == (
            5,
            "thorough",
            True,
            2,
        )

    def test_quick_and_thorough_exclude_each_other(self) -> None:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--quick", "--thorough"])

    def test_unknown_profile_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["ws://h:1/ws", "--profile", "core,telepathy"]) == 64
        assert "telepathy" in capsys.readouterr().err

    def test_a_timeout_that_is_not_positive_is_a_usage_error(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["ws://h:1/ws", "--timeout", "0"]) == 64
        assert "canaux-conformance: error: --timeout must be positive" in capsys.readouterr().err

    def test_list_prints_every_case(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--list", "--only", "HS-*"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines][:3] == ["HS-01", "HS-02", "HS-03"]
        assert all(line.startswith("HS-") for line in lines)


def test_unreachable_target_exits_2(tmp_path: Path) -> None:
    out = _cli(f"ws://127.0.0.1:{_closed_port()}/ws", "--report-dir", str(tmp_path), timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot test the target" in out.stdout


@pytest.mark.slow
def test_run_against_the_reference_server_writes_three_reports(tmp_path: Path) -> None:
    """No URL: the CLI starts the reference server, runs the cases, writes every report."""
    reports, junit = tmp_path / "reports", tmp_path / "ci" / "conformance.xml"
    out = _cli(
        "--quick", "--seed", "11", "--only", "HS-0[13578]", "--only", "ENV-TEXT-*",
        "--report-dir", str(reports), "--junit", str(junit),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "seed 11" in out.stdout
    assert "conformant" in out.stdout
    for name in ("report.json", "junit.xml", "report.html"):
        assert (reports / name).stat().st_size > 0
    data = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert data["reference_server"] is True
    assert data["exit_status"] == 0
    ids = [case["id"] for case in data["cases"]]
    assert ids[:5] == ["ENV-TEXT-EMPTY", "ENV-TEXT-NAN", "ENV-TEXT-NOT-JSON-AFTER-HELLO",
                       "ENV-TEXT-NOT-JSON-BEFORE-HELLO", "ENV-TEXT-TRUNCATED-JSON"]  # fmt: skip
    assert {"HS-01", "HS-03", "HS-05", "HS-07", "HS-08"} <= set(ids)
    root = ET.parse(junit).getroot()
    assert len(root.findall("./testsuite/testcase")) == len(ids)


class TestPublishUrlGuard:
    """[#11] --publish-url against a server named by URL needs --test-instance: its system and
    progress events reach every subscriber, real users included."""

    def test_publish_url_without_confirmation_is_a_usage_error(self) -> None:
        args = build_parser().parse_args(
            ["ws://h:1/ws", "--publish-url", "http://h:1/publish", "--publish-token", "t"]
        )
        with pytest.raises(ValueError, match="--test-instance"):
            config_from_args(args)
        assert main(["ws://h:1/ws", "--publish-url", "http://h:1/publish"]) == 64

    def test_confirmed_publish_url_reaches_the_run_config(self) -> None:
        args = build_parser().parse_args(
            ["ws://h:1/ws", "--publish-url", "http://h:1/publish", "--test-instance"]
        )
        assert config_from_args(args).publish_url == "http://h:1/publish"


def test_help_cites_spec_pages_that_exist_not_section_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--help names spec pages (``http-publish.md``): section numbers went stale as pages came."""
    monkeypatch.setenv("COLUMNS", "200")  # argparse would break a page name at its hyphen
    spec = Path(__file__).resolve().parents[2] / "spec"
    text = " ".join(build_parser().format_help().split())
    assert "POST /publish, spec http-publish.md)" in text
    assert not re.search(r"§\s*\d", text)
    cited = set(re.findall(r"\b([a-z][a-z-]*\.md)\b", text))
    assert cited, "the help cites no spec page"
    assert {page for page in cited if not (spec / page).is_file()} == set()


class TestPeers:
    """[#13] --peer names another node of the target's deployment (spec "Clusters")."""

    def test_peers_are_repeatable_and_reach_the_run_config(self) -> None:
        args = build_parser().parse_args(
            ["ws://a:1/ws", "--peer", "ws://b:2/ws", "--peer", "wss://c:3/canaux/ws"]
        )
        assert config_from_args(args).peers == ("ws://b:2/ws", "wss://c:3/canaux/ws")
        assert config_from_args(build_parser().parse_args(["ws://a:1/ws"])).peers == ()

    @pytest.mark.parametrize(
        "argv",
        [
            ["--peer", "ws://b:2/ws"],  # no target URL: the suite would start one node alone
            ["ws://a:1/ws", "--peer", "http://b:2/ws"],
            ["ws://a:1/ws", "--peer", "ws://a:1/ws"],
            ["ws://a:1/ws", "--peer", "ws://b:2/ws", "--peer", "ws://b:2/ws"],
        ],
    )
    def test_a_peer_that_is_no_other_node_is_a_usage_error(
        self, argv: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(argv) == 64
        assert "--peer" in capsys.readouterr().err

    def test_help_says_what_a_peer_adds_and_what_a_run_without_one_shows(self) -> None:
        text = " ".join(build_parser().format_help().split())
        assert "--peer URL" in text
        assert "PEER-*" in text
        assert '"not checked: no peer given"' in text
