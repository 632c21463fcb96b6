"""The parts of a trial that need no server: judging a suite run, and which files are in reach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from canaux.cli import build_parser as server_parser
from canaux.commands.serve import config_from_args as server_config
from canaux_conformance.cli import build_parser as suite_parser
from canaux_conformance.cli import config_from_args as suite_config
from tests.power.mutations import find_mutations
from tests.power.trials import (
    DETACHED_TOTAL,
    IMPORTED,
    RAN,
    SERVER_ARGS,
    Outcome,
    _judge,
    _suite_command,
    reached_files,
)

MUTATION = find_mutations("X = 1\n", "pkg/x.py")[0]


def _report(tmp_path: Path, verdicts: dict[str, str]) -> Path:
    cases = [
        {"id": case, "verdict": verdict, "requirement": "OPS-1" if verdict != "pass" else None}
        for case, verdict in verdicts.items()
    ]
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"cases": cases}))
    return path


def _judged(
    path: Path, *, status: int = 0, alive: bool = True
) -> tuple[Outcome, str, tuple[str, ...]]:
    trial = _judge(MUTATION, status, path, alive=alive, duration=1.0, executed={}, output="x\nlast")
    return trial.outcome, trial.how, trial.killers


class TestJudge:
    def test_all_pass_is_a_survivor(self, tmp_path: Path) -> None:
        assert _judged(_report(tmp_path, {"A": "pass", "B": "skipped"})) == (
            Outcome.SURVIVED,
            "",
            (),
        )

    @pytest.mark.parametrize("verdict", ["fail", "error", "non-strict"])
    def test_a_case_that_does_not_pass_kills(self, tmp_path: Path, verdict: str) -> None:
        outcome, how, killers = _judged(_report(tmp_path, {"A": "pass", "B": verdict}), status=1)
        assert (outcome, how, killers) == (Outcome.KILLED, verdict, ("B [OPS-1]",))

    def test_fail_is_named_before_error(self, tmp_path: Path) -> None:
        _, how, killers = _judged(_report(tmp_path, {"A": "error", "B": "fail"}), status=1)
        assert how == "fail"
        assert killers == ("A [OPS-1]", "B [OPS-1]")

    def test_a_dead_server_kills_even_when_every_case_passed(self, tmp_path: Path) -> None:
        assert _judged(_report(tmp_path, {"A": "pass"}), alive=False)[:2] == (
            Outcome.KILLED,
            "crash",
        )

    def test_an_incomplete_verdict_kills(self, tmp_path: Path) -> None:
        report = _report(tmp_path, {"A": "pass", "B": "skipped"})
        assert _judged(report, status=2)[:2] == (Outcome.KILLED, "incomplete")

    def test_a_suite_that_exits_non_zero_without_a_report_kills(self, tmp_path: Path) -> None:
        outcome, how, _ = _judged(tmp_path / "missing.json", status=2)
        assert (outcome, how) == (Outcome.KILLED, "exit 2: last")

    def test_what_the_suite_said_of_each_case_that_did_not_pass_is_kept(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "report.json"
        cases = [
            {"id": "A", "verdict": "pass", "message": ""},
            {"id": "B", "verdict": "skipped", "message": "no publish endpoint"},
        ]
        path.write_text(json.dumps({"cases": cases}))
        trial = _judge(MUTATION, 0, path, alive=True, duration=1.0, executed={}, output="")
        assert trial.messages == {"B": "no publish endpoint"}
        assert (trial.passed, trial.skipped) == (("A",), ("B",))


class TestCommands:
    """What every trial's server is started with and what its suite is told."""

    def test_the_server_and_the_suite_share_the_bound_on_detached_sessions(
        self, tmp_path: Path
    ) -> None:
        """[LIMIT-13] welcome does not announce it: DETACH-01 runs only when the suite is told."""
        server = server_config(server_parser().parse_args(["serve", *SERVER_ARGS]))
        assert server.limits.max_detached_total == DETACHED_TOTAL
        command = _suite_command("ws://127.0.0.1:1/ws", 1, tmp_path, ())
        assert command[1:3] == ["-m", "canaux_conformance"]
        assert suite_config(suite_parser().parse_args(command[3:])).max_detached_total == (
            DETACHED_TOTAL
        )

    def test_the_bound_is_small_enough_for_detach_01_and_legal(self) -> None:
        # DETACH-01 detaches the bound + 1 sessions, at most 256; the reference wants the
        # bound at least max_detached_sessions (32 by default).
        server = server_config(server_parser().parse_args(["serve", *SERVER_ARGS]))
        assert server.limits.max_detached_sessions <= DETACHED_TOTAL < 256


class TestReach:
    SOURCES = {  # noqa: RUF012
        "canaux/__init__.py": "",
        "canaux/server/__init__.py": "",
        "canaux/server/hub.py": "from canaux.protocol.codes import CODE\nfrom . import run\n"
        "def deliver():\n    return CODE\n",
        "canaux/server/run.py": "def main():\n    return 1\n",
        "canaux/protocol/__init__.py": "",
        "canaux/protocol/codes.py": "CODE = 4400\n",
        "canaux/protocol/client.py": "from canaux.protocol.codes import CODE\n"
        "def connect():\n    return CODE\n",
    }

    def test_files_with_a_function_that_ran_and_what_they_import_are_reached(self) -> None:
        executed = {
            "canaux/server/hub.py": frozenset({1, 2, 3, 4}),
            "canaux/protocol/client.py": frozenset({1, 2}),  # imported, no function ran
        }
        assert reached_files(self.SOURCES, executed) == {
            "canaux/__init__.py": IMPORTED,
            "canaux/server/__init__.py": IMPORTED,
            "canaux/server/hub.py": RAN,
            "canaux/server/run.py": IMPORTED,
            "canaux/protocol/__init__.py": IMPORTED,
            "canaux/protocol/codes.py": IMPORTED,
        }

    def test_nothing_ran_nothing_reached(self) -> None:
        assert reached_files(self.SOURCES, {}) == {}

    def test_a_one_line_function_whose_def_ran_did_not_run(self) -> None:
        # The def line of ``def random(self) -> float: ...`` runs at import: not a body.
        sources = {
            "canaux/server/hub.py": "def deliver():\n    return 1\n",
            "canaux/protocol/backoff.py": "class Source:\n    def random(self) -> float: ...\n",
        }
        executed = {
            "canaux/server/hub.py": frozenset({1, 2}),
            "canaux/protocol/backoff.py": frozenset({1, 2}),
        }
        assert reached_files(sources, executed) == {"canaux/server/hub.py": RAN}
