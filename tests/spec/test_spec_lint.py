"""The specification passes its own lint, and the requirement index matches it (spec/index.md).

The lint itself lives in tests/spec/speclib.py; test_lint_mutations.py shows that it catches
each kind of defect, so a clean result here means something.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from . import speclib

__all__: list[str] = []

REPO = Path(__file__).resolve().parents[2]

# Requirement IDs fixed by the wire contract: code and tests cite them, so they never disappear.
CONTRACT_IDS = frozenset(
    [f"TRANSPORT-{n}" for n in range(1, 8)]
    + [f"HANDSHAKE-{n}" for n in range(1, 10)]
    + [f"CHANNEL-{n}" for n in range(1, 8)]
    + [f"OPS-{n}" for n in range(1, 10)]
    + [f"DELIVERY-{n}" for n in range(1, 7)]
    + [f"RESUME-{n}" for n in range(1, 8)]
    + [f"HEARTBEAT-{n}" for n in range(1, 5)]
    + [f"SECURITY-{n}" for n in range(1, 5)]
    + [f"CHAT-{n}" for n in range(1, 4)]
    + [f"QUEUE-{n}" for n in range(1, 4)]
    + ["SYSTEM-1", "PROGRESS-1", "CONF-1", "CONF-2", "HTTP-1"]
    + [f"LIMIT-{n}" for n in range(1, 6)]
    + [f"SSE-{n}" for n in range(1, 5)]
    + [f"LEGACY-{n}" for n in range(1, 4)]
    + [f"CLIENT-{n}" for n in range(1, 5)]
)

PAGES = (
    "index.md",
    "transport.md",
    "handshake.md",
    "frames.md",
    "channels.md",
    "operations.md",
    "delivery.md",
    "resume.md",
    "heartbeat.md",
    "limits.md",
    "standard-channels.md",
    "sse.md",
    "legacy.md",
    "http-publish.md",
    "client.md",
    "security.md",
    "error-codes.md",
    "close-codes.md",
    "client-adapter.md",
    "clusters.md",
)

# Sequence diagrams the spec promises its readers, by page.
DIAGRAMS = {
    "handshake.md": 1,
    "operations.md": 1,
    "delivery.md": 1,
    "standard-channels.md": 1,
    "resume.md": 2,
    "heartbeat.md": 1,
}


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return speclib.load_spec()


@pytest.fixture(scope="module")
def requirements(texts: dict[str, str]) -> list[speclib.Requirement]:
    return speclib.extract_requirements(texts)


def test_every_page_is_present(texts: dict[str, str]) -> None:
    assert sorted(texts) == sorted(PAGES)


def test_spec_has_no_lint_issues(texts: dict[str, str]) -> None:
    issues = speclib.lint(texts, speclib.load_json_documents())
    assert not issues, "spec lint:\n" + "\n".join(map(str, issues))


def test_contract_requirement_ids_are_all_defined(
    requirements: list[speclib.Requirement],
) -> None:
    defined = {req.id for req in requirements}
    assert sorted(CONTRACT_IDS - defined) == []


def test_requirement_index_is_up_to_date(texts: dict[str, str]) -> None:
    on_disk = speclib.INDEX_PATH.read_text(encoding="utf-8")
    assert on_disk == speclib.render_index(texts), (
        f"schemas/requirements.json is out of date with spec/: run `{speclib.REGENERATE_COMMAND}`"
    )


def test_requirement_index_entries_are_complete(texts: dict[str, str]) -> None:
    index = json.loads(speclib.INDEX_PATH.read_text(encoding="utf-8"))["requirements"]
    assert len(index) > len(CONTRACT_IDS)
    assert len({entry["id"] for entry in index}) == len(index)
    for entry in index:
        fields = {"id", "level", "party", "testable", "text", "page", "section"}
        assert set(entry) == fields | ({"reason"} if not entry["testable"] else set()), entry
        assert entry["level"] in {"MUST", "SHOULD", "MAY"}, entry
        assert entry["party"] in speclib.PARTIES, entry
        assert entry.get("reason", "x").strip(), entry
        assert entry["page"] in texts, entry
        assert entry["section"], entry
        # Markdown is stripped: no anchors, links, code ticks or bold markers remain.
        assert not re.search(r"<a |\]\(|`|\*\*", entry["text"]), entry
        assert entry["level"] in entry["text"] or entry["level"] == "MAY", entry


def test_only_a_few_requirements_are_untestable(requirements: list[speclib.Requirement]) -> None:
    """Nearly everything the spec asks for shows on the wire; the exceptions say why (#9).

    At most one in sixteen: logs, credentials' expiry, a server's own failures, and the three
    faults of a cluster's broker (CLUSTER-5..7), which only the deployment's own tests can cause.
    """
    untestable = {req.id: req.untestable for req in requirements if not req.testable}
    assert len(untestable) <= len(requirements) // 16, untestable


def test_requirement_index_follows_the_contents_order(
    texts: dict[str, str], requirements: list[speclib.Requirement]
) -> None:
    contents = [line for line in texts["index.md"].splitlines() if re.match(r"\d+\. \[", line)]
    listed = [re.search(r"\]\(([^)#]+)", line).group(1) for line in contents]  # type: ignore[union-attr]
    page_of_first = list(dict.fromkeys(req.page for req in requirements))
    assert page_of_first == [page for page in listed if page in page_of_first]


def test_requirement_ids_cited_in_the_repository_exist(
    requirements: list[speclib.Requirement],
) -> None:
    """Code and tests cite requirement IDs in comments and docstrings; each must be real."""
    defined = {req.id for req in requirements}
    pattern = re.compile(r"\b(" + "|".join(speclib.PREFIXES) + r")-([1-9][0-9]*)\b")
    unknown: list[str] = []
    for folder in ("reference", "conformance", "tests", "benchmarks", "docs"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in {".py", ".md", ".json", ".html"} or ".venv" in path.parts:
                continue
            if path.is_relative_to(REPO / "tests" / "spec"):
                continue  # the lint's own tests feed it made-up IDs on purpose
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in pattern.finditer(text):
                ident = f"{match.group(1)}-{match.group(2)}"
                if ident not in defined:
                    unknown.append(f"{path.relative_to(REPO)}: {ident}")
    assert not unknown, "requirement IDs cited but not in spec/:\n" + "\n".join(unknown)


@pytest.mark.parametrize(("page", "count"), sorted(DIAGRAMS.items()))
def test_page_has_its_sequence_diagrams(texts: dict[str, str], page: str, count: int) -> None:
    diagrams = re.findall(r"```mermaid\s*\n\s*sequenceDiagram", texts[page])
    assert len(diagrams) >= count


def test_heading_anchors_match_python_markdown(texts: dict[str, str]) -> None:
    """The lint's anchors are the ones mkdocs will generate, so checked links work on the site."""
    markdown = pytest.importorskip("markdown")
    for name, text in texts.items():
        html = markdown.markdown(text, extensions=["toc", "tables", "fenced_code"])
        generated = re.findall(r"<h[1-6] id=\"([^\"]+)\"", html)
        page = speclib.parse_page(name, text)
        ours = [
            anchor
            for anchor, line in page.anchors.items()
            if any(b.kind == "heading" and b.line == line for b in page.blocks)
        ]
        assert ours == generated, name


def test_command_line_reports_a_clean_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert speclib.main([]) == 0
    assert capsys.readouterr().out == ""
