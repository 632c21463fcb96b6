"""Sampling: the same seed on the same tree picks the same mutants, and only checked ones."""

from __future__ import annotations

from pathlib import Path

from tests.power.__main__ import PACKAGE, _files, sample
from tests.power.mutations import find_mutations, verified

# Three files of the tree that have mutation sites, whatever the tree holds today.
SOURCES = dict(
    [
        (p.relative_to(PACKAGE.parent).as_posix(), text)
        for p in _files()
        if find_mutations(text := p.read_text(encoding="utf-8"), p.name)
    ][:3]
)


def test_the_file_list_comes_from_the_tree() -> None:
    paths = {p.relative_to(PACKAGE.parent).as_posix() for p in _files()}
    assert {p.split("/")[1] for p in paths} == {"protocol", "server"}
    assert all(p.startswith(("canaux/protocol/", "canaux/server/")) for p in paths)
    assert {p.as_posix() for p in Path(PACKAGE, "server").rglob("*.py")} <= {
        (PACKAGE.parent / p).as_posix() for p in paths
    }


def test_same_seed_same_mutants() -> None:
    assert sample(SOURCES, 12, seed=42) == sample(SOURCES, 12, seed=42)


def test_another_seed_other_mutants() -> None:
    assert sample(SOURCES, 12, seed=42) != sample(SOURCES, 12, seed=43)


def test_sample_has_n_distinct_checked_mutants() -> None:
    chosen = sample(SOURCES, 12, seed=7)
    assert len(chosen) == 12
    assert len(set(chosen)) == 12
    assert all(verified(SOURCES[m.path], m) for m in chosen)


def test_a_prefix_of_a_larger_sample_is_the_smaller_sample() -> None:
    assert sample(SOURCES, 20, seed=3)[:8] == sample(SOURCES, 8, seed=3)
