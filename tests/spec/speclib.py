"""Read and check the Canaux specification (spec/*.md); build the requirement index.

The spec's conventions (spec/index.md, "Notational conventions") are checked here:

- every normative statement starts with ``<a id="ID" data-party="P"></a>**[ID]**``; IDs are unique
  and well formed; ``P`` says whom the statement binds (``server``, ``client`` or ``both``), and a
  statement that cannot be observed on the wire also carries ``data-untestable="<why>"``;
- every sentence of a normative section that uses a BCP 14 key word in capitals belongs to such a
  statement; lower-case "must", "should", "shall" and "may not" are not used in normative text;
- every internal link resolves, with anchors computed as mkdocs (Python-Markdown ``toc``)
  makes them;
- every error code and close code mentioned in spec/ or schemas/ is in its registry table
  (error-codes.md, close-codes.md, and the chat stream table of standard-channels.md);
- every ``json`` code block is one frame, or an array of frames.

Informative text is exempt from the key-word rules: sections whose heading says "(informative)",
the block right after a ``<!-- informative -->`` marker, and the BCP 14 paragraph itself.

Run ``python tests/spec/speclib.py --write`` to regenerate schemas/requirements.json, the index of
requirements the conformance suite ships; without ``--write`` the script reports lint issues.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHAT_REGISTRY",
    "CLOSE_REGISTRY",
    "ERROR_REGISTRY",
    "PARTIES",
    "PREFIXES",
    "REGENERATE_COMMAND",
    "Block",
    "Issue",
    "Page",
    "Requirement",
    "Spec",
    "build_index",
    "extract_requirements",
    "lint",
    "load_json_documents",
    "load_spec",
    "main",
    "parse_page",
    "render_index",
    "requirement_level",
    "slugify",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / "spec"
SCHEMAS_DIR = REPO_ROOT / "schemas"
INDEX_PATH = SCHEMAS_DIR / "requirements.json"
REGENERATE_COMMAND = "python tests/spec/speclib.py --write"

PREFIXES = (
    "TRANSPORT",
    "HANDSHAKE",
    "CHANNEL",
    "OPS",
    "DELIVERY",
    "RESUME",
    "HEARTBEAT",
    "SECURITY",
    "CHAT",
    "QUEUE",
    "SYSTEM",
    "PROGRESS",
    "CONF",
    "LIMIT",
    "SSE",
    "LEGACY",
    "HTTP",
    "CLIENT",
    "CLUSTER",
)
"""The only requirement ID prefixes the project uses (fixed by the wire contract)."""

PARTIES = ("server", "client", "both")
"""Whom a requirement binds: the value of its anchor's ``data-party`` attribute."""
_ANCHOR_ATTRIBUTES = {"id", "data-party", "data-untestable"}

ERROR_REGISTRY = "error-codes"
CLOSE_REGISTRY = "close-codes"
CHAT_REGISTRY = "chat-error-codes"
_REGISTRY_PAGES = {
    ERROR_REGISTRY: "error-codes.md",
    CLOSE_REGISTRY: "close-codes.md",
    CHAT_REGISTRY: "standard-channels.md",
}

_ID_RE = re.compile(r"^(?P<prefix>[A-Z]+)-(?P<number>[1-9][0-9]*)$")
_ID_MENTION_RE = re.compile(r"\b(" + "|".join(PREFIXES) + r")-([1-9][0-9]*)\b")
_ATTRS = r'(?:\s+[a-z][a-z-]*="[^"]*")*'
_REQ_START_RE = re.compile(
    r'^<a id="(?P<anchor>[^"]*)"(?P<attrs>' + _ATTRS + r")\s*></a>\*\*\[(?P<label>[^\]]*)\]\*\*\s*"
)
_ANCHOR_RE = re.compile(r'<a\s+id="([^"]+)"' + _ATTRS + r"\s*>\s*</a>")
_ATTR_RE = re.compile(r'([a-z][a-z-]*)="([^"]*)"')
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_ITEM_RE = re.compile(r"^(\s*)(?:[-*+]|[0-9]+\.)\s+")
_MARKER_RE = re.compile(r"^<!--\s*(.*?)\s*-->$")
_CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK_RE = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")

_MUST_WORDS = ("MUST NOT", "MUST", "REQUIRED", "SHALL NOT", "SHALL")
_SHOULD_WORDS = ("SHOULD NOT", "SHOULD", "NOT RECOMMENDED", "RECOMMENDED")
_MAY_WORDS = ("MAY", "OPTIONAL")
_KEYWORD_RE = re.compile(r"\b(MUST|REQUIRED|SHALL|SHOULD|RECOMMENDED|MAY|OPTIONAL)\b")
_LOWER_KEYWORD_RE = re.compile(r"\b(?:[Mm]ust|[Ss]hould|[Ss]hall|[Mm]ay not)\b")
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.;!?])\s+(?=[A-Z`*\[(<])")

# Mentions of codes in prose and in non-JSON code blocks. Close codes are written in backticks
# (`4410`) or follow the word "close"; error codes follow "code"/"error" in backticks, or are the
# value of a "code"/"error" member. A code containing "." is an application notice code of the
# system channel (`scan.done`), not a registry code.
_CLOSE_BACKTICK_RE = re.compile(r"`([0-9]{4})`")
_CLOSE_WORD_RE = re.compile(r"\bclos\w*(?:\s+[\w`]+){0,4}?\s+`?([0-9]{4})`?\b", re.IGNORECASE)
_CLOSE_MEMBER_RE = re.compile(r"\"?\b(?:close|close_code)\"?\s*:\s*([0-9]{4})\b")
_ERROR_PROSE_RE = re.compile(r"\b(?:code|codes|error)\s+`([a-z][a-z0-9_.]*)`")
_ERROR_MEMBER_RE = re.compile(r"\"?\b(?:code|error)\"?\s*:\s*\"([a-z][a-z0-9_.]*)\"")
_CLOSE_RANGE = range(1000, 5000)


@dataclass(frozen=True)
class Issue:
    """One problem found by the lint, located by page and line."""

    page: str
    line: int
    message: str

    def __str__(self) -> str:
        path = f"spec/{self.page}" if self.page.endswith(".md") else self.page
        return f"{path}:{self.line}: {self.message}"


@dataclass
class Block:
    """One Markdown block: a heading, paragraph, list item, table, code fence or HTML comment."""

    kind: str
    text: str
    line: int
    section: str = ""
    informative: bool = False
    lang: str = ""
    markers: tuple[str, ...] = ()
    level: int = 0


@dataclass
class Page:
    """A parsed spec page: its blocks and the anchors a link can target."""

    name: str
    blocks: list[Block]
    anchors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Requirement:
    """A normative statement: its ID, level, plain text, whom it binds and where it is.

    ``untestable`` is empty for a statement a peer's behaviour on the wire shows, else the reason
    it cannot be observed there (what a server writes to its logs, say).
    """

    id: str
    level: str
    text: str
    page: str
    section: str
    line: int
    party: str = ""
    untestable: str = ""

    @property
    def testable(self) -> bool:
        return not self.untestable

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "level": self.level,
            "party": self.party,
            "testable": self.testable,
        }
        if self.untestable:
            entry["reason"] = self.untestable
        entry.update(text=self.text, page=self.page, section=self.section)
        return entry


@dataclass
class Spec:
    """Every page of the specification, in reading order (index.md first, then its contents)."""

    pages: dict[str, Page]
    order: list[str]

    def ordered_pages(self) -> Iterator[Page]:
        for name in self.order:
            yield self.pages[name]


# --------------------------------------------------------------------------- parsing


def slugify(heading: str) -> str:
    """The anchor Python-Markdown's ``toc`` extension (used by mkdocs) gives a heading."""
    text = _LINK_RE.sub(lambda m: m.group(1), heading)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _unique_slug(slug: str, seen: set[str]) -> str:
    # Same rule as Python-Markdown's toc.unique(): append _1, _2 ... to repeated anchors.
    while slug in seen or not slug:
        match = re.match(r"^(.*)_([0-9]+)$", slug)
        slug = f"{match.group(1)}_{int(match.group(2)) + 1}" if match else f"{slug}_1"
    return slug


def parse_page(name: str, text: str) -> Page:
    """Split one page into blocks, tracking sections, informative parts and markers."""
    lines = text.splitlines()
    blocks: list[Block] = []
    heading_stack: list[tuple[int, str]] = []
    pending_markers: list[str] = []
    i = 0

    def section() -> str:
        return heading_stack[-1][1] if heading_stack else ""

    def informative_section() -> bool:
        return any("(informative)" in title.lower() for _, title in heading_stack)

    def add(kind: str, body: str, line: int, **extra: Any) -> None:
        markers = tuple(pending_markers)
        pending_markers.clear()
        informative = informative_section() or "informative" in markers
        blocks.append(Block(kind, body, line, section(), informative, markers=markers, **extra))

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        fence = _FENCE_RE.match(line)
        if fence:
            ticks, lang = fence.group(2), fence.group(3)
            start = i
            i += 1
            body: list[str] = []
            while i < len(lines) and not lines[i].strip().startswith(ticks):
                body.append(lines[i])
                i += 1
            i += 1
            add("code", "\n".join(body), start + 1, lang=lang)
            continue
        marker = _MARKER_RE.match(stripped)
        if marker:
            pending_markers.append(marker.group(1))
            i += 1
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            level, title = len(heading.group(1)), heading.group(2)
            while heading_stack and heading_stack[-1][0] >= level:
                heading_stack.pop()
            heading_stack.append((level, title))
            pending_markers.clear()
            blocks.append(Block("heading", title, i + 1, title, informative_section(), level=level))
            i += 1
            continue
        if stripped.startswith("|"):
            start = i
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i].strip())
                i += 1
            add("table", "\n".join(rows), start + 1)
            continue
        start = i
        kind = "item" if _ITEM_RE.match(line) else "paragraph"
        body = [_ITEM_RE.sub("", line, count=1) if kind == "item" else stripped]
        i += 1
        while i < len(lines):
            nxt = lines[i]
            if (
                not nxt.strip()
                or _ITEM_RE.match(nxt)
                or _FENCE_RE.match(nxt)
                or _HEADING_RE.match(nxt)
                or nxt.strip().startswith("|")
                or _MARKER_RE.match(nxt.strip())
            ):
                break
            body.append(nxt.strip())
            i += 1
        text_ = " ".join(body)
        if text_.startswith(">"):
            text_ = re.sub(r"(^|\s)>\s?", r"\1", text_)
        add(kind, text_, start + 1)

    anchors: dict[str, int] = {}
    for block in blocks:
        if block.kind == "heading":
            anchors[_unique_slug(slugify(block.text), set(anchors))] = block.line
    for block in blocks:
        if block.kind in {"paragraph", "item", "table", "heading"}:
            for match in _ANCHOR_RE.finditer(block.text):
                anchors.setdefault(match.group(1), block.line)
    return Page(name, blocks, anchors)


def load_spec(spec_dir: Path = SPEC_DIR) -> dict[str, str]:
    """The text of every page of spec/, keyed by file name."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(spec_dir.glob("*.md"))}


def load_json_documents(schemas_dir: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """Every JSON file under schemas/ (schemas and vectors), except the generated index."""
    documents: dict[str, Any] = {}
    for path in sorted(schemas_dir.rglob("*.json")):
        if path == schemas_dir / INDEX_PATH.name:
            continue
        documents[path.relative_to(schemas_dir).as_posix()] = json.loads(
            path.read_text(encoding="utf-8")
        )
    return documents


def _contents(pages: Mapping[str, Page]) -> list[str]:
    """The pages linked from the Contents section of index.md, in the order listed."""
    listed: list[str] = []
    if "index.md" not in pages:
        return listed
    for block in pages["index.md"].blocks:
        if block.section.lower() != "contents" or block.kind != "item":
            continue
        for match in _LINK_RE.finditer(block.text):
            target = match.group(2).split("#")[0]
            if target in pages and target not in listed:
                listed.append(target)
    return listed


def _page_order(pages: Mapping[str, Page]) -> list[str]:
    order = ["index.md"] if "index.md" in pages else []
    order += [name for name in _contents(pages) if name != "index.md"]
    return order + sorted(name for name in pages if name not in order)


def _build_spec(texts: Mapping[str, str]) -> Spec:
    pages = {name: parse_page(name, text) for name, text in texts.items()}
    return Spec(pages, _page_order(pages))


# --------------------------------------------------------------------------- requirements


def _anchor_attributes(attrs: str) -> dict[str, str]:
    return {name: value.strip() for name, value in _ATTR_RE.findall(attrs)}


def _strip_code_spans(text: str) -> str:
    return _CODE_SPAN_RE.sub(" ", text)


def requirement_level(text: str) -> str | None:
    """The strongest BCP 14 key word of a statement: MUST, SHOULD or MAY (None if it has none)."""
    words = set(_KEYWORD_RE.findall(_strip_code_spans(text)))
    if words & {"MUST", "REQUIRED", "SHALL"}:
        return "MUST"
    if words & {"SHOULD", "RECOMMENDED"}:
        return "SHOULD"
    if words & {"MAY", "OPTIONAL"}:
        return "MAY"
    return None


def _plain_text(markdown: str) -> str:
    text = _LINK_RE.sub(lambda m: m.group(1), markdown)
    text = re.sub(r"<sup>(.*?)</sup>", r"^\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"`+", "", text)
    text = re.sub(r"\*\*|__", "", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def extract_requirements(texts: Mapping[str, str]) -> list[Requirement]:
    """Every requirement of the spec, in reading order."""
    spec = _build_spec(texts)
    found: list[Requirement] = []
    for page in spec.ordered_pages():
        for block in page.blocks:
            if block.kind not in {"paragraph", "item"}:
                continue
            start = _REQ_START_RE.match(block.text)
            if not start:
                continue
            body = block.text[start.end() :]
            attributes = _anchor_attributes(start.group("attrs"))
            found.append(
                Requirement(
                    id=start.group("label"),
                    level=requirement_level(body) or "",
                    text=_plain_text(body),
                    page=page.name,
                    section=_plain_text(block.section),
                    line=block.line,
                    party=attributes.get("data-party", ""),
                    untestable=attributes.get("data-untestable", ""),
                )
            )
    return found


def build_index(texts: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The content of schemas/requirements.json."""
    return {"requirements": [req.as_json() for req in extract_requirements(texts)]}


def render_index(texts: Mapping[str, str]) -> str:
    """schemas/requirements.json exactly as written to disk."""
    return json.dumps(build_index(texts), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- registries


def _table_rows(table: str) -> list[list[str]]:
    rows = []
    for raw in table.splitlines():
        cells = [cell.strip() for cell in raw.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
            continue
        rows.append(cells)
    return rows


def _registries(spec: Spec, issues: list[Issue]) -> dict[str, dict[str, dict[str, str]]]:
    """Registry name → code → column → cell, read from the marked tables."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for page in spec.ordered_pages():
        for block in page.blocks:
            names = [m.split(":", 1)[1].strip() for m in block.markers if m.startswith("registry:")]
            if not names:
                continue
            name = names[0]
            if block.kind != "table":
                issues.append(
                    Issue(page.name, block.line, f"registry marker {name!r} not before a table")
                )
                continue
            if name in found:
                issues.append(Issue(page.name, block.line, f"registry {name!r} defined twice"))
                continue
            rows = _table_rows(block.text)
            header = [cell.lower() for cell in rows[0]] if rows else []
            table: dict[str, dict[str, str]] = {}
            for offset, row in enumerate(rows[1:], start=2):
                line = block.line + offset
                cells = dict(zip(header, row, strict=False))
                code = cells.get("code", "").strip("`")
                if not code:
                    issues.append(Issue(page.name, line, f"registry {name!r}: row without a code"))
                    continue
                if code in table:
                    issues.append(Issue(page.name, line, f"registry {name!r}: {code} listed twice"))
                if not cells.get("meaning"):
                    issues.append(
                        Issue(page.name, line, f"registry {name!r}: {code} has no meaning")
                    )
                if name == CLOSE_REGISTRY:
                    if not re.fullmatch(r"[0-9]{4}", code):
                        issues.append(
                            Issue(page.name, line, f"close code {code!r} is not a number")
                        )
                    reconnect = cells.get("reconnect", "").lower()
                    if not re.match(r"(yes|no)\b", reconnect):
                        issues.append(
                            Issue(
                                page.name, line, f"close code {code}: reconnect must say yes or no"
                            )
                        )
                elif not re.fullmatch(r"[a-z][a-z0-9_]*", code):
                    issues.append(Issue(page.name, line, f"registry {name!r}: bad code {code!r}"))
                table[code] = cells
            found[name] = table
    for name, page_name in _REGISTRY_PAGES.items():
        if name not in found:
            issues.append(Issue(page_name, 1, f"registry table {name!r} is missing"))
            found[name] = {}
    return found


@dataclass(frozen=True)
class _Mention:
    kind: str  # "close" or "error"
    code: str
    where: str  # "spec/page.md:line" or "schemas/path"


def _mentions_in_text(text: str, where: str) -> Iterator[_Mention]:
    for regex in (_CLOSE_BACKTICK_RE, _CLOSE_WORD_RE, _CLOSE_MEMBER_RE):
        for match in regex.finditer(text):
            if int(match.group(1)) in _CLOSE_RANGE:
                yield _Mention("close", match.group(1), where)
    for regex in (_ERROR_PROSE_RE, _ERROR_MEMBER_RE):
        for match in regex.finditer(text):
            yield _Mention("error", match.group(1), where)


def _mentions_in_json(value: Any, where: str, key: str = "") -> Iterator[_Mention]:
    """Codes in a JSON document: frames, vector expectations, and schema enums of code members."""
    if isinstance(value, dict):
        for member, item in value.items():
            yield from _mentions_in_json(item, where, member)
        if key in {"code", "error", "error_code", "close", "close_code"}:
            for literal in [value.get("const"), *value.get("enum", [])]:
                yield from _mentions_in_json(literal, where, key)
    elif isinstance(value, list):
        for item in value:
            yield from _mentions_in_json(item, where, key)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int) and ("close" in key or key == "code"):
        if value in _CLOSE_RANGE:
            yield _Mention("close", str(value), where)
    elif (
        isinstance(value, str)
        and key in {"code", "error", "error_code"}
        and re.fullmatch(r"[a-z][a-z0-9_.]*", value)
    ):
        yield _Mention("error", value, where)


def _check_mentions(
    mentions: Iterator[_Mention],
    registries: Mapping[str, Mapping[str, Any]],
    issues: list[Issue],
) -> None:
    error_codes = set(registries[ERROR_REGISTRY]) | set(registries[CHAT_REGISTRY])
    for mention in mentions:
        page, _, line = mention.where.partition(":")
        if mention.kind == "close" and mention.code not in registries[CLOSE_REGISTRY]:
            issues.append(
                Issue(page, int(line or 0), f"close code {mention.code} is not in close-codes.md")
            )
        if mention.kind == "error" and "." not in mention.code and mention.code not in error_codes:
            issues.append(
                Issue(page, int(line or 0), f"error code {mention.code!r} is not in a registry")
            )


# --------------------------------------------------------------------------- lint


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT_RE.split(text) if s.strip()]


def _is_bcp14_paragraph(text: str) -> bool:
    return "BCP 14" in text and "RFC 2119" in text


def _check_requirement_block(
    page: Page, block: Block, seen: dict[str, str], issues: list[Issue]
) -> bool:
    """Check a block's requirement label; True when the block is a requirement."""
    start = _REQ_START_RE.match(block.text)
    for match in _ANCHOR_RE.finditer(block.text):
        if (start is None or match.start() != 0) and _ID_RE.match(match.group(1)):
            issues.append(
                Issue(
                    page.name,
                    block.line,
                    f"requirement anchor {match.group(1)} is not at the start",
                )
            )
    if re.search(r"\*\*\[[A-Z]+-[0-9]+\]\*\*", _strip_code_spans(block.text)) and start is None:
        issues.append(Issue(page.name, block.line, "requirement label without its <a id> anchor"))
    if start is None:
        return False
    anchor, label = start.group("anchor"), start.group("label")
    if anchor != label:
        issues.append(
            Issue(page.name, block.line, f"anchor id {anchor!r} differs from ID {label!r}")
        )
    id_match = _ID_RE.match(label)
    if not id_match or id_match.group("prefix") not in PREFIXES:
        issues.append(Issue(page.name, block.line, f"malformed requirement ID {label!r}"))
    if label in seen:
        issues.append(
            Issue(page.name, block.line, f"duplicate requirement ID {label} (also {seen[label]})")
        )
    else:
        seen[label] = f"{page.name}:{block.line}"
    if requirement_level(block.text[start.end() :]) is None:
        issues.append(Issue(page.name, block.line, f"{label} has no BCP 14 key word"))
    _check_requirement_attributes(page, block, label, start.group("attrs"), issues)
    if block.informative:
        issues.append(Issue(page.name, block.line, f"{label} is in an informative section"))
    return True


def _check_requirement_attributes(
    page: Page, block: Block, label: str, attrs: str, issues: list[Issue]
) -> None:
    """Whom the statement binds, and why it cannot be tested when it cannot (spec/index.md)."""
    names = [name for name, _ in _ATTR_RE.findall(attrs)]
    attributes = _anchor_attributes(attrs)
    for name in names:
        if name not in _ANCHOR_ATTRIBUTES or name == "id":
            issues.append(Issue(page.name, block.line, f"{label}: unknown anchor attribute {name}"))
    for name in set(names):
        if names.count(name) > 1:
            issues.append(Issue(page.name, block.line, f"{label}: anchor attribute {name} twice"))
    party = attributes.get("data-party")
    if party is None:
        issues.append(Issue(page.name, block.line, f"{label} has no data-party"))
    elif party not in PARTIES:
        issues.append(
            Issue(
                page.name,
                block.line,
                f"{label}: data-party {party!r} is not one of {', '.join(PARTIES)}",
            )
        )
    if "data-untestable" in attributes and not attributes["data-untestable"]:
        issues.append(Issue(page.name, block.line, f"{label} is untestable without a reason"))


def _check_keywords(page: Page, block: Block, is_requirement: bool, issues: list[Issue]) -> None:
    prose = _strip_code_spans(block.text)
    prose = _LINK_RE.sub(lambda m: m.group(1), prose)
    for lower in _LOWER_KEYWORD_RE.finditer(prose):
        issues.append(
            Issue(page.name, block.line, f"lower-case {lower.group(0)!r} in normative text")
        )
    if is_requirement or block.kind == "heading":
        return
    if block.kind == "table":
        if _KEYWORD_RE.search(prose):
            issues.append(Issue(page.name, block.line, "BCP 14 key word in a table"))
        return
    for sentence in _sentences(prose):
        if _KEYWORD_RE.search(sentence):
            issues.append(
                Issue(
                    page.name, block.line, f"BCP 14 key word without requirement ID: {sentence!r}"
                )
            )


def _check_links(spec: Spec, page: Page, block: Block, issues: list[Issue]) -> None:
    prose = _CODE_SPAN_RE.sub(" ", block.text)
    for match in _LINK_RE.finditer(prose):
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # absolute URL
        path, _, anchor = target.partition("#")
        if path and path not in spec.pages:
            issues.append(Issue(page.name, block.line, f"link to a missing page: {target}"))
            continue
        target_page = spec.pages[path] if path else page
        if anchor and anchor not in target_page.anchors:
            issues.append(Issue(page.name, block.line, f"broken link anchor: {target}"))


def _json_block_value(page: Page, block: Block, issues: list[Issue]) -> list[Any]:
    """The parsed value of a ``json`` block as a one-item list (empty when it does not parse).

    Every ``json`` block must parse; unless marked ``<!-- not-a-frame -->`` it must also be one
    frame (an object with a string ``type``) or an array of frames.
    """
    try:
        value = json.loads(block.text)
    except json.JSONDecodeError as exc:
        issues.append(Issue(page.name, block.line, f"json block is not valid JSON: {exc}"))
        return []
    if "not-a-frame" not in block.markers:
        frames = value if isinstance(value, list) else [value]
        if not frames or not all(
            isinstance(frame, dict) and isinstance(frame.get("type"), str) for frame in frames
        ):
            issues.append(
                Issue(page.name, block.line, "json block is not a frame or an array of frames")
            )
    return [value]


def _check_id_mentions(
    text: str, known: set[str], page: str, line: int, issues: list[Issue]
) -> None:
    for match in _ID_MENTION_RE.finditer(text):
        ident = f"{match.group(1)}-{match.group(2)}"
        if ident not in known:
            issues.append(Issue(page, line, f"reference to unknown requirement {ident}"))


def lint(texts: Mapping[str, str], json_documents: Mapping[str, Any] | None = None) -> list[Issue]:
    """Every problem in the spec pages (and, if given, in the codes used by schemas/ documents)."""
    spec = _build_spec(texts)
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    mentions: list[_Mention] = []
    for page in spec.ordered_pages():
        for block in page.blocks:
            where = f"{page.name}:{block.line}"
            if block.kind == "code":
                if block.lang == "json":
                    for value in _json_block_value(page, block, issues):
                        mentions += _mentions_in_json(value, where)
                else:
                    mentions += _mentions_in_text(block.text, where)
                continue
            _check_links(spec, page, block, issues)
            mentions += _mentions_in_text(block.text, where)
            is_requirement = block.kind in {"paragraph", "item"} and _check_requirement_block(
                page, block, seen, issues
            )
            exempt = block.informative or _is_bcp14_paragraph(block.text)
            if not exempt:
                _check_keywords(page, block, is_requirement, issues)
    known = set(seen)
    for page in spec.ordered_pages():
        for block in page.blocks:
            _check_id_mentions(block.text, known, page.name, block.line, issues)
    if "index.md" in spec.pages:
        listed = set(_contents(spec.pages))
        for name in spec.pages:
            if name != "index.md" and name not in listed:
                issues.append(Issue("index.md", 1, f"{name} is not linked from the Contents"))
    registries = _registries(spec, issues)
    for path, document in (json_documents or {}).items():
        mentions += _mentions_in_json(document, f"schemas/{path}")
        _check_id_mentions(json.dumps(document), known, f"schemas/{path}", 0, issues)
    _check_mentions(iter(mentions), registries, issues)
    return issues


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Lint spec/ and report; with --write, regenerate schemas/requirements.json first."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="regenerate schemas/requirements.json")
    args = parser.parse_args(argv)
    texts = load_spec()
    if args.write:
        INDEX_PATH.write_text(render_index(texts), encoding="utf-8")
        print(f"wrote {INDEX_PATH.relative_to(REPO_ROOT)}")
    issues = lint(texts, load_json_documents())
    for issue in issues:
        print(issue)
    stale = INDEX_PATH.exists() and INDEX_PATH.read_text(encoding="utf-8") != render_index(texts)
    if not args.write and stale:
        print(f"schemas/requirements.json is out of date: run {REGENERATE_COMMAND}")
        return 1
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
