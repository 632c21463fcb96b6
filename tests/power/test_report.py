"""The report's arithmetic: who counts in which ratio, and what a survivor line says."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.power import equivalents
from tests.power.equivalents import Equivalent
from tests.power.mutations import Mutation, find_mutations
from tests.power.report import Score, format_report, rejudge, score, to_json
from tests.power.trials import Outcome, Trial

SOURCE = "def f(a, b):\n    if a < b and b > 2:\n        return a + b\n    return b\n"
PATH = "pkg/f.py"
SOURCES = {PATH: SOURCE}
MUTATIONS = find_mutations(SOURCE, PATH)


def _trial(mutation: Mutation, outcome: Outcome, how: str = "") -> Trial:
    killers = ("ROUTE-01 [DELIVERY-2]",) if outcome is Outcome.KILLED else ()
    return Trial(mutation, outcome, how, killers, skipped=("SSE-STREAM-01",))


CONTROL = Trial(None, Outcome.SURVIVED, "", passed=("SSE-STREAM-01", "ROUTE-01"))
TRIALS = [
    _trial(MUTATIONS[0], Outcome.KILLED, "fail"),
    _trial(MUTATIONS[1], Outcome.KILLED, "timeout"),
    _trial(MUTATIONS[2], Outcome.KILLED, "crash"),
    _trial(MUTATIONS[3], Outcome.SURVIVED),
    _trial(MUTATIONS[4], Outcome.SURVIVED),
    _trial(MUTATIONS[5], Outcome.STILLBORN, "SyntaxError"),
]


@pytest.fixture
def one_equivalent(monkeypatch: pytest.MonkeyPatch) -> Mutation:
    mutation = MUTATIONS[4]
    before, after = mutation.diff(SOURCE)
    entry = Equivalent(PATH, "no client can tell", before=before, after=after)
    monkeypatch.setattr(equivalents, "EQUIVALENTS", (entry,))
    return mutation


class TestScore:
    def test_stillborn_mutants_are_outside_the_ratio(self) -> None:
        result = score(TRIALS, SOURCES)
        assert result == Score(killed=3, survived=2, stillborn=1, equivalent=0)
        assert result.judged == 5
        assert result.kill_rate == pytest.approx(3 / 5)
        assert result.non_equivalent_kill_rate == pytest.approx(3 / 5)

    def test_equivalent_survivors_leave_the_second_ratio_only(
        self, one_equivalent: Mutation
    ) -> None:
        result = score(TRIALS, SOURCES)
        assert result.equivalent == 1
        assert result.kill_rate == pytest.approx(3 / 5)
        assert result.non_equivalent_kill_rate == pytest.approx(3 / 4)

    def test_killed_mutant_is_never_counted_equivalent(self, one_equivalent: Mutation) -> None:
        trials = [_trial(one_equivalent, Outcome.KILLED, "fail")]
        assert score(trials, SOURCES).equivalent == 0

    def test_no_judged_mutant_has_no_rate(self) -> None:
        result = score([TRIALS[-1]], SOURCES)
        assert result.kill_rate is None
        assert result.non_equivalent_kill_rate is None


class TestText:
    def test_report_lists_each_survivor_with_its_one_line_diff(
        self, one_equivalent: Mutation
    ) -> None:
        text = format_report(TRIALS, SOURCES, seed=5, control=CONTROL)
        assert "6 mutants (seed 5): 3 killed, 2 survived, 1 stillborn" in text
        assert "kill rate: 60.0% of 5 judged mutants; 75.0% of the 4 not judged equivalent" in text
        assert "or out of reach" in text
        for trial in TRIALS[3:5]:
            assert trial.mutation is not None
            before, after = trial.mutation.diff(SOURCE)
            assert f"{PATH}:{trial.mutation.line}  [{trial.mutation.operator}] in f" in text
            assert f"    - {before}\n    + {after}" in text
        assert "equivalent: no client can tell" in text
        assert "skipped here: SSE-STREAM-01" in text
        assert "SSE-STREAM-01: no reason given" in text
        assert "stillborn (the server did not start; not in the ratio)" in text

    def test_json_holds_every_mutant_and_its_killers(self, tmp_path: Path) -> None:
        path = tmp_path / "power.json"
        to_json(TRIALS, SOURCES, seed=5, n=6, control=CONTROL, path=path)
        document = json.loads(path.read_text())
        assert [m["outcome"] for m in document["mutants"]] == [t.outcome.value for t in TRIALS]
        assert document["mutants"][0]["killed_by"] == ["ROUTE-01 [DELIVERY-2]"]
        assert document["kill_rate"] == pytest.approx(0.6)


class TestEquivalentRules:
    def test_a_scope_matches_itself_and_what_it_holds(self) -> None:
        mutation = MUTATIONS[0]
        before, after = mutation.diff(SOURCE)
        nested = dataclasses.replace(mutation, scope="f.inner")
        assert Equivalent(PATH, "r", scope="f").matches(nested, before, after)
        assert not Equivalent(PATH, "r", scope="f.inner").matches(mutation, before, after)
        assert not Equivalent(PATH, "r", scope="f").matches(
            dataclasses.replace(mutation, scope="ff"), before, after
        )

    def test_a_rule_matches_on_every_field_it_names(self) -> None:
        mutation = MUTATIONS[0]
        before, after = mutation.diff(SOURCE)
        assert Equivalent(PATH, "r", scope="f").matches(mutation, before, after)
        assert Equivalent(PATH, "r", operator=mutation.operator).matches(mutation, before, after)
        assert not Equivalent(PATH, "r", scope="g").matches(mutation, before, after)
        assert not Equivalent("other.py", "r").matches(mutation, before, after)
        assert not Equivalent(PATH, "r", before=before, after="x").matches(mutation, before, after)
        assert Equivalent(PATH, "r", contains=before[1:]).matches(mutation, before, after)
        assert not Equivalent(PATH, "r", contains=before + "!").matches(mutation, before, after)

    def test_a_survivor_that_never_ran_says_so(self) -> None:
        ran = TRIALS[3].mutation
        assert ran is not None
        control = Trial(
            None,
            Outcome.SURVIVED,
            "",
            passed=("ROUTE-01",),
            executed={PATH: frozenset({ran.statement_line})},
        )
        other = _trial(MUTATIONS[6], Outcome.SURVIVED)  # line 3, not executed
        assert other.mutation is not None
        assert other.mutation.statement_line != ran.statement_line
        text = format_report([TRIALS[3], other], SOURCES, seed=1, control=control)
        first, second = text.split("survivors", 1)[1].split(PATH)[1:3]
        assert "never ran" not in first
        assert "never ran" in second


def test_a_saved_report_is_judged_again_with_todays_equivalents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "power.json"
    to_json(TRIALS, SOURCES, seed=5, n=6, control=CONTROL, path=path)
    assert "60.0% of the 5 not judged" in rejudge(path)
    mutation = MUTATIONS[4]
    before, after = mutation.diff(SOURCE)
    later = Equivalent(PATH, "judged later", scope=mutation.scope, before=before, after=after)
    monkeypatch.setattr(equivalents, "EQUIVALENTS", (later,))
    text = rejudge(path)
    assert "(1 judged equivalent or out of reach)" in text
    assert "75.0% of the 4 not judged" in text
    assert f"+ {after}" not in text
