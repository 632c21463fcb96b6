"""Sampling: the same seed on the same tree picks the same mutants, and only checked ones."""

from __future__ import annotations

from pathlib import Path

from tests.power.__main__ import PACKAGE, _files, _found, sample
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


def test_tables_only_files_keep_only_their_module_and_class_level_sites() -> None:
    path = next(iter(SOURCES))
    chosen = sample(SOURCES, 40, seed=1, tables_only=frozenset({path}))
    assert len(chosen) == 40
    assert [m for m in chosen if m.path == path and m.in_function] == []
    assert any(m.in_function for m in chosen if m.path != path)


def test_find_selects_by_the_one_line_diff() -> None:
    path = next(iter(SOURCES))
    first = sample({path: SOURCES[path]}, 1, seed=1)[0]
    before, after = first.diff(SOURCES[path])
    found = _found(SOURCES, [path, f"{before} -> {after}"])
    assert first in found
    assert all(m.path == path for m in found)


def test_find_any_selects_the_union() -> None:
    path = next(iter(SOURCES))
    one, two = sample({path: SOURCES[path]}, 2, seed=3)
    lines = [" -> ".join(m.diff(SOURCES[path])) for m in (one, two)]
    found = _found(SOURCES, [path], any_of=lines)
    assert one in found
    assert two in found
    assert _found(SOURCES, [], any_of=[lines[0]]) == _found(SOURCES, [lines[0]])
