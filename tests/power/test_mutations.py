"""The mutator: every operator yields a valid module with exactly one change; skipped code stays."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tests.power.__main__ import _files
from tests.power.mutations import OPERATORS, Mutation, apply, find_mutations, verified

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = textwrap.dedent(
    '''\
    """Module docstring [OPS-1]."""
    from __future__ import annotations

    import logging
    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from collections.abc import Sequence

    __all__ = ["decide"]
    logger = logging.getLogger(__name__)
    LIMIT = 64


    class Box:
        size: int = 3
        """An attribute docstring."""

        def __repr__(self) -> str:
            return f"<Box {self.size + 1}>"


    def decide(items: Sequence[int], flag: bool, state: dict[str, int]) -> int | None:
        """Pick one [OPS-9]."""
        assert LIMIT > 0
        logger.debug("deciding %d", len(items))
        total = 0
        for item in items:
            if item < LIMIT and not flag:
                total += item * 2
                continue
            while total > 10 or flag:
                total -= 1
                break
        state["total"] = -total
        state["kept"] = sum(1 for item in items if item in state.values())
        if total == 0:
            return
        message = f"total {total + 1}"
        if message is None:
            raise ValueError(message)
        return total if flag is True else None
    '''
)


def _mutations(source: str = SAMPLE) -> list[Mutation]:
    return find_mutations(source, "pkg/sample.py", known=["OPS-1", "OPS-9"])


class TestEveryOperator:
    def test_each_operator_has_sites_in_the_sample(self) -> None:
        assert {m.operator for m in _mutations()} == set(OPERATORS)

    @pytest.mark.parametrize("mutation", _mutations(), ids=lambda m: f"{m.operator}-{m.start}")
    def test_mutation_gives_a_valid_module_differing_by_exactly_one_node(
        self, mutation: Mutation
    ) -> None:
        mutated = apply(SAMPLE, mutation)
        assert mutated != SAMPLE
        compile(mutated, "sample.py", "exec")
        assert ast.dump(ast.parse(mutated)) != ast.dump(ast.parse(SAMPLE))
        assert verified(SAMPLE, mutation)

    def test_mutations_are_distinct(self) -> None:
        mutated = [apply(SAMPLE, m) for m in _mutations()]
        assert len(set(mutated)) == len(mutated)

    @pytest.mark.parametrize(
        ("operator", "before", "after"),
        [
            ("compare", "if item < LIMIT and not flag:", "if (item) <= (LIMIT) and not flag:"),
            ("compare", "if total == 0:", "if (total) != (0):"),
            ("boolean", "while total > 10 or flag:", "while (total > 10) and (flag):"),
            ("boolean", "if item < LIMIT and not flag:", "if item < LIMIT and (flag):"),
            ("arith", "total += item * 2", "total -= (item * 2)"),
            ("arith", 'state["total"] = -total', 'state["total"] = (total)'),
            ("negate", "if total == 0:", "if not (total == 0):"),
            ("constant", "LIMIT = 64", "LIMIT = 65"),
            ("constant", "LIMIT = 64", "LIMIT = 63"),
            ("constant", "total = 0", "total = (-1)"),
            ("return", "return total if flag is True else None", "return None"),
            ("delete", "raise ValueError(message)", "pass"),
            ("delete", "continue", "pass"),
            ("delete", 'state["total"] = -total', "pass"),
            ("delete", "return", "pass"),
        ],
    )
    def test_operator_makes_the_expected_one_line_change(
        self, operator: str, before: str, after: str
    ) -> None:
        diffs = {m.diff(SAMPLE) for m in _mutations() if m.operator == operator}
        assert (before, after) in diffs


class TestSkippedCode:
    @pytest.mark.parametrize(
        "line",
        [
            '"""Module docstring [OPS-1]."""',
            "from collections.abc import Sequence",
            '__all__ = ["decide"]',
            '"""An attribute docstring."""',
            'return f"<Box {self.size + 1}>"',
            '"""Pick one [OPS-9]."""',
            "assert LIMIT > 0",
            'logger.debug("deciding %d", len(items))',
            'message = f"total {total + 1}"',
            "def decide(items: Sequence[int], flag: bool, state: dict[str, int]) -> int | None:",
            "size: int = 3",
        ],
    )
    def test_line_is_never_mutated_except_where_allowed(self, line: str) -> None:
        touched = {m.diff(SAMPLE)[0]: m for m in _mutations()}
        if line == "size: int = 3":  # the value is fair game (a default), the annotation not
            assert {m.text for m in _mutations() if m.diff(SAMPLE)[0] == line} == {"4", "2"}
            return
        assert line not in touched

    def test_assignment_to_a_plain_name_is_not_deleted(self) -> None:
        deleted = {m.diff(SAMPLE)[0] for m in _mutations() if m.operator == "delete"}
        assert "total = 0" not in deleted
        assert "LIMIT = 64" not in deleted  # module level: never deleted

    def test_type_union_is_not_an_arithmetic_site(self) -> None:
        source = "Frame = Hello | Ping | None\nflags = READ | WRITE_BIT\n"
        arith = [m for m in find_mutations(source, "x.py") if m.operator == "arith"]
        expected = ("flags = READ | WRITE_BIT", "flags = (READ) & (WRITE_BIT)")
        assert [m.diff(source) for m in arith] == [expected]


class TestSiteDescription:
    def test_site_names_its_scope_and_the_nearest_quoted_requirements(self) -> None:
        site = next(m for m in _mutations() if m.diff(SAMPLE)[0] == "if total == 0:")
        assert site.scope == "decide"
        assert site.cites == ("OPS-9",)
        assert site.line == SAMPLE.splitlines().index("    if total == 0:") + 1

    def test_module_level_site_cites_the_module(self) -> None:
        site = next(m for m in _mutations() if m.diff(SAMPLE)[0] == "LIMIT = 64")
        assert site.scope == "<module>"
        assert site.cites[0] == "OPS-1"

    def test_offsets_are_utf8_bytes(self) -> None:
        source = 'NOTE = "é…"\nif x < 1:\n    y = "→"; z = 2\n'
        diffs = {m.diff(source) for m in find_mutations(source, "u.py")}
        assert ("if x < 1:", "if (x) <= (1):") in diffs
        for mutation in find_mutations(source, "u.py"):
            assert verified(source, mutation)


def _spread(count: int) -> list[str]:
    """``count`` files of the mutated tree, spread over it (the tree moves: never a fixed list)."""
    files = [p for p in _files() if find_mutations(p.read_text(encoding="utf-8"), p.name)]
    return [p.relative_to(ROOT).as_posix() for p in files[:: max(1, len(files) // count)][:count]]


@pytest.mark.parametrize("path", _spread(3))
def test_every_mutation_of_a_reference_module_checks_out(path: str) -> None:
    source = (ROOT / path).read_text(encoding="utf-8")
    mutations = find_mutations(source, path)
    assert mutations
    assert find_mutations(source, path, check=True) == mutations
