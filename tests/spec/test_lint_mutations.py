"""The spec lint catches every kind of defect it claims to (tests/spec/speclib.py).

Each test starts from a small, clean specification, breaks one thing, and checks that the lint
reports exactly that kind of problem. The clean baseline itself must lint clean, or a mutation
test could pass for the wrong reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import speclib

__all__: list[str] = []

INDEX = """# Mini spec

## Notational conventions

<!-- informative -->
The key words "MUST", "SHOULD" and "MAY" in this document are to be interpreted as described in
BCP 14 (RFC 2119, RFC 8174) when, and only when, they appear in all capitals.

## Contents

1. [Rules](rules.md)
2. [Error codes](error-codes.md)
3. [Close codes](close-codes.md)
4. [Standard channels](standard-channels.md)
"""

RULES = """# Rules

## Publishing

<a id="OPS-1" data-party="server"></a>**[OPS-1]** The server MUST answer each `publish` with an
`ack` or an `error` with code `bad_frame`.

<a id="OPS-2" data-party="server" data-untestable="it happens off the wire"></a>**[OPS-2]**
The server SHOULD NOT close the connection with `4410` early;
see [Publishing](#publishing) and [Error codes](error-codes.md#error-codes).

- <a id="OPS-3" data-party="client"></a>**[OPS-3]** A client MAY send a `ping`; it is OPTIONAL.

A plain sentence that cites [OPS-1](#OPS-1) and needs no ID.

```json
{"type":"ack","id":"c1"}
```

<!-- not-a-frame -->
```json
{"mark":"m-1"}
```

## Background (informative)

The server MUST be fast, says the marketing team, and it must be cheap.
"""

ERRORS = """# Error codes

<!-- registry: error-codes -->
| Code | Meaning |
|---|---|
| `bad_frame` | Not a valid frame. |
"""

CLOSES = """# Close codes

<!-- registry: close-codes -->
| Code | Name | Meaning | Reconnect |
|---|---|---|---|
| `4410` | Heartbeat timeout | Nothing received. | yes (resume) |
"""

CHANNELS = """# Standard channels

## chat

<!-- registry: chat-error-codes -->
| Code | Meaning |
|---|---|
| `agent_failed` | The agent failed. |
"""


def clean_spec() -> dict[str, str]:
    return {
        "index.md": INDEX,
        "rules.md": RULES,
        "error-codes.md": ERRORS,
        "close-codes.md": CLOSES,
        "standard-channels.md": CHANNELS,
    }


def issues_of(texts: dict[str, str], documents: dict[str, Any] | None = None) -> list[str]:
    return [issue.message for issue in speclib.lint(texts, documents)]


def mutate(page: str, old: str, new: str) -> dict[str, str]:
    return mutate_more(clean_spec(), page, old, new)


def mutate_more(texts: dict[str, str], page: str, old: str, new: str) -> dict[str, str]:
    assert old in texts[page], f"mutation anchor {old!r} not in {page}"
    texts[page] = texts[page].replace(old, new, 1)
    return texts


def assert_reported(messages: list[str], fragment: str) -> None:
    assert any(fragment in message for message in messages), messages


def test_clean_baseline_has_no_issues() -> None:
    assert issues_of(clean_spec(), {"frame.json": {"enum": ["bad_frame"]}}) == []


class TestRequirementIds:
    def test_duplicate_id_is_reported(self) -> None:
        texts = mutate("rules.md", 'id="OPS-2" data', 'id="OPS-1" data')
        texts = mutate_more(texts, "rules.md", "**[OPS-2]**", "**[OPS-1]**")
        assert_reported(issues_of(texts), "duplicate requirement ID OPS-1")

    def test_anchor_differing_from_label_is_reported(self) -> None:
        texts = mutate("rules.md", 'id="OPS-2" data', 'id="OPS-22" data')
        assert_reported(issues_of(texts), "anchor id 'OPS-22' differs from ID 'OPS-2'")

    def test_unknown_prefix_is_reported(self) -> None:
        texts = mutate("rules.md", 'id="OPS-2" data', 'id="FOO-2" data')
        texts = mutate_more(texts, "rules.md", "**[OPS-2]**", "**[FOO-2]**")
        assert_reported(issues_of(texts), "malformed requirement ID 'FOO-2'")

    def test_label_without_anchor_is_reported(self) -> None:
        texts = mutate(
            "rules.md",
            '<a id="OPS-2" data-party="server" data-untestable="it happens off the wire"></a>',
            "",
        )
        assert_reported(issues_of(texts), "requirement label without its <a id> anchor")

    def test_anchor_in_the_middle_is_reported(self) -> None:
        texts = mutate("rules.md", "A plain sentence", 'A plain <a id="OPS-9"></a> sentence')
        assert_reported(issues_of(texts), "requirement anchor OPS-9 is not at the start")

    def test_requirement_without_key_word_is_reported(self) -> None:
        texts = mutate("rules.md", "SHOULD NOT close", "does not close")
        assert_reported(issues_of(texts), "OPS-2 has no BCP 14 key word")

    def test_reference_to_an_undefined_id_is_reported(self) -> None:
        texts = mutate("rules.md", "cites [OPS-1](#OPS-1)", "cites OPS-7")
        assert_reported(issues_of(texts), "reference to unknown requirement OPS-7")


class TestParties:
    def test_requirement_without_party_is_reported(self) -> None:
        texts = mutate("rules.md", '<a id="OPS-1" data-party="server">', '<a id="OPS-1">')
        assert_reported(issues_of(texts), "OPS-1 has no data-party")

    def test_unknown_party_is_reported(self) -> None:
        texts = mutate("rules.md", 'data-party="client"', 'data-party="proxy"')
        assert_reported(issues_of(texts), "OPS-3: data-party 'proxy' is not one of server")

    def test_untestable_without_reason_is_reported(self) -> None:
        texts = mutate("rules.md", "it happens off the wire", "")
        assert_reported(issues_of(texts), "OPS-2 is untestable without a reason")

    def test_blank_reason_is_no_reason(self) -> None:
        texts = mutate("rules.md", "it happens off the wire", " ")
        assert_reported(issues_of(texts), "OPS-2 is untestable without a reason")

    def test_unknown_attribute_is_reported(self) -> None:
        texts = mutate("rules.md", 'data-party="client"', 'data-party="client" data-why="x"')
        assert_reported(issues_of(texts), "OPS-3: unknown anchor attribute data-why")

    def test_repeated_attribute_is_reported(self) -> None:
        texts = mutate("rules.md", 'data-party="client"', 'data-party="client" data-party="both"')
        assert_reported(issues_of(texts), "OPS-3: anchor attribute data-party twice")

    def test_attributes_do_not_hide_an_anchor_in_the_middle(self) -> None:
        anchor = '<a id="OPS-9" data-party="server"></a>'
        texts = mutate("rules.md", "A plain sentence", f"A plain {anchor} sentence")
        assert_reported(issues_of(texts), "requirement anchor OPS-9 is not at the start")

    def test_index_carries_party_and_testability(self) -> None:
        index = {e["id"]: e for e in speclib.build_index(clean_spec())["requirements"]}
        assert (index["OPS-1"]["party"], index["OPS-1"]["testable"]) == ("server", True)
        assert "reason" not in index["OPS-1"]
        assert index["OPS-2"]["testable"] is False
        assert index["OPS-2"]["reason"] == "it happens off the wire"
        assert index["OPS-3"]["party"] == "client"


class TestKeywords:
    def test_must_sentence_without_id_is_reported(self) -> None:
        texts = mutate("rules.md", "and needs no ID.", "and needs no ID. Clients MUST retry.")
        assert_reported(
            issues_of(texts), "BCP 14 key word without requirement ID: 'Clients MUST retry.'"
        )

    @pytest.mark.parametrize(
        "word", ["SHOULD", "MAY", "REQUIRED", "SHALL", "RECOMMENDED", "OPTIONAL"]
    )
    def test_every_key_word_needs_an_id(self, word: str) -> None:
        texts = mutate("rules.md", "and needs no ID.", f"and needs no ID. This is {word} here.")
        assert_reported(issues_of(texts), "BCP 14 key word without requirement ID")

    @pytest.mark.parametrize("word", ["must", "should", "shall", "may not", "Must", "Should"])
    def test_lower_case_key_word_is_reported(self, word: str) -> None:
        texts = mutate("rules.md", "and needs no ID.", f"and the server {word} answer.")
        assert_reported(issues_of(texts), f"lower-case {word!r} in normative text")

    def test_lower_case_key_word_in_a_requirement_is_reported(self) -> None:
        texts = mutate("rules.md", "The server MUST answer", "The server must answer")
        assert_reported(issues_of(texts), "lower-case 'must' in normative text")

    def test_key_word_in_a_table_is_reported(self) -> None:
        texts = mutate("error-codes.md", "Not a valid frame.", "Clients MUST fix it.")
        assert_reported(issues_of(texts), "BCP 14 key word in a table")

    def test_informative_marker_exempts_the_next_block_only(self) -> None:
        texts = mutate(
            "rules.md",
            "A plain sentence",
            "<!-- informative -->\nClients MAY cache.\n\nServers MAY cache.\n\nA plain sentence",
        )
        messages = issues_of(texts)
        assert_reported(messages, "'Servers MAY cache.'")
        assert not any("Clients MAY cache" in message for message in messages)

    def test_informative_section_is_exempt_but_its_subsections_too(self) -> None:
        texts = mutate(
            "rules.md", "it must be cheap.", "it must be cheap.\n\n### Detail\n\nIt MUST work.\n"
        )
        assert issues_of(texts) == []

    def test_key_words_in_code_are_not_key_words(self) -> None:
        texts = mutate(
            "rules.md", "and needs no ID.", "and needs no ID. The level `MUST` is a noun."
        )
        assert issues_of(texts) == []

    def test_requirement_in_an_informative_section_is_reported(self) -> None:
        texts = mutate(
            "rules.md",
            "The server MUST be fast",
            '<a id="OPS-4" data-party="server"></a>**[OPS-4]** The server MUST be fast',
        )
        assert_reported(issues_of(texts), "OPS-4 is in an informative section")


class TestLinks:
    def test_broken_anchor_is_reported(self) -> None:
        texts = mutate("rules.md", "(#publishing)", "(#publish)")
        assert_reported(issues_of(texts), "broken link anchor: #publish")

    def test_broken_anchor_on_another_page_is_reported(self) -> None:
        texts = mutate("rules.md", "(error-codes.md#error-codes)", "(error-codes.md#codes)")
        assert_reported(issues_of(texts), "broken link anchor: error-codes.md#codes")

    def test_broken_requirement_link_is_reported(self) -> None:
        texts = mutate("rules.md", "(#OPS-1)", "(#OPS-5)")
        assert_reported(issues_of(texts), "broken link anchor: #OPS-5")

    def test_link_to_a_missing_page_is_reported(self) -> None:
        texts = mutate("rules.md", "(error-codes.md#error-codes)", "(errors.md)")
        assert_reported(issues_of(texts), "link to a missing page: errors.md")

    def test_link_outside_the_spec_is_reported(self) -> None:
        texts = mutate("rules.md", "(error-codes.md#error-codes)", "(../schemas/frame.json)")
        assert_reported(issues_of(texts), "link to a missing page: ../schemas/frame.json")

    def test_page_missing_from_the_contents_is_reported(self) -> None:
        texts = mutate("index.md", "4. [Standard channels](standard-channels.md)\n", "")
        assert_reported(issues_of(texts), "standard-channels.md is not linked from the Contents")


class TestRegistries:
    def test_unregistered_error_code_in_prose_is_reported(self) -> None:
        texts = mutate("rules.md", "with code `bad_frame`", "with code `bad_thing`")
        assert_reported(issues_of(texts), "error code 'bad_thing' is not in a registry")

    def test_unregistered_close_code_in_prose_is_reported(self) -> None:
        texts = mutate("rules.md", "with `4410` early", "with `4999` early")
        assert_reported(issues_of(texts), "close code 4999 is not in close-codes.md")

    def test_close_code_after_the_word_close_is_found_without_backticks(self) -> None:
        texts = mutate("rules.md", "and needs no ID.", "and needs no ID. It closes with 4998.")
        assert_reported(issues_of(texts), "close code 4998 is not in close-codes.md")

    def test_unregistered_code_in_a_json_example_is_reported(self) -> None:
        texts = mutate(
            "rules.md", '{"type":"ack","id":"c1"}', '{"type":"error","code":"nope","message":""}'
        )
        assert_reported(issues_of(texts), "error code 'nope' is not in a registry")

    def test_chat_codes_count_as_registered(self) -> None:
        texts = mutate("rules.md", "with code `bad_frame`", "with code `agent_failed`")
        assert issues_of(texts) == []

    def test_unregistered_codes_in_schemas_and_vectors_are_reported(self) -> None:
        documents = {
            "frame.json": {"$defs": {"error_code": {"enum": ["bad_frame", "shiny_new"]}}},
            "vectors/x.json": {
                "vectors": [{"expect": {"close": 4998}}, {"expect": {"error": "oops"}}]
            },
            "channels/chat.json": {"properties": {"code": {"const": "agent_gone"}}},
        }
        messages = issues_of(clean_spec(), documents)
        assert_reported(messages, "error code 'shiny_new' is not in a registry")
        assert_reported(messages, "close code 4998 is not in close-codes.md")
        assert_reported(messages, "error code 'oops' is not in a registry")
        assert_reported(messages, "error code 'agent_gone' is not in a registry")

    def test_application_notice_codes_are_not_registry_codes(self) -> None:
        documents = {"channels/system.json": {"examples": [{"level": "info", "code": "scan.done"}]}}
        assert issues_of(clean_spec(), documents) == []

    def test_registry_row_without_meaning_is_reported(self) -> None:
        texts = mutate("error-codes.md", "| Not a valid frame. |", "|  |")
        assert_reported(issues_of(texts), "bad_frame has no meaning")

    def test_close_code_without_reconnect_answer_is_reported(self) -> None:
        texts = mutate("close-codes.md", "| yes (resume) |", "| maybe |")
        assert_reported(issues_of(texts), "close code 4410: reconnect must say yes or no")

    def test_missing_registry_is_reported(self) -> None:
        texts = mutate("error-codes.md", "<!-- registry: error-codes -->\n", "")
        assert_reported(issues_of(texts), "registry table 'error-codes' is missing")


class TestJsonBlocks:
    def test_invalid_json_is_reported(self) -> None:
        texts = mutate("rules.md", '{"type":"ack","id":"c1"}', '{"type":"ack",}')
        assert_reported(issues_of(texts), "json block is not valid JSON")

    def test_non_frame_json_is_reported(self) -> None:
        texts = mutate("rules.md", '{"type":"ack","id":"c1"}', '{"mark":"m-1"}')
        assert_reported(issues_of(texts), "json block is not a frame or an array of frames")

    def test_array_of_frames_is_accepted(self) -> None:
        texts = mutate(
            "rules.md", '{"type":"ack","id":"c1"}', '[{"type":"ack","id":"c1"},{"type":"ping"}]'
        )
        assert issues_of(texts) == []


class TestRequirementIndex:
    def test_levels_text_page_and_section(self) -> None:
        index = speclib.build_index(clean_spec())["requirements"]
        assert [entry["id"] for entry in index] == ["OPS-1", "OPS-2", "OPS-3"]
        assert [entry["level"] for entry in index] == ["MUST", "SHOULD", "MAY"]
        assert index[0] == {
            "id": "OPS-1",
            "level": "MUST",
            "party": "server",
            "testable": True,
            "text": (
                "The server MUST answer each publish with an ack or an error with code bad_frame."
            ),
            "page": "rules.md",
            "section": "Publishing",
        }
        assert index[1]["text"].endswith("see Publishing and Error codes.")

    @pytest.mark.parametrize(
        ("sentence", "level"),
        [
            ("It MUST NOT fail.", "MUST"),
            ("It is REQUIRED.", "MUST"),
            ("It SHALL NOT fail.", "MUST"),
            ("It SHOULD NOT fail.", "SHOULD"),
            ("It is NOT RECOMMENDED.", "SHOULD"),
            ("It is OPTIONAL.", "MAY"),
            ("It MAY fail but SHOULD NOT, and MUST report it.", "MUST"),
            ("It MAY fail, and SHOULD report it.", "SHOULD"),
            ("The level `MUST` is only named here.", None),
        ],
    )
    def test_level_is_the_strongest_key_word(self, sentence: str, level: str | None) -> None:
        assert speclib.requirement_level(sentence) == level

    def test_pages_follow_the_contents_order(self) -> None:
        texts = clean_spec()
        texts["index.md"] = texts["index.md"].replace(
            "1. [Rules](rules.md)", "1. [More](more.md)\n2. [Rules](rules.md)"
        )
        texts["more.md"] = '# More\n\n<a id="CHAT-1"></a>**[CHAT-1]** It MUST stream.\n'
        index = speclib.build_index(texts)["requirements"]
        assert [entry["id"] for entry in index] == ["CHAT-1", "OPS-1", "OPS-2", "OPS-3"]

    def test_render_is_stable_json(self) -> None:
        rendered = speclib.render_index(clean_spec())
        assert rendered.endswith("}\n")
        assert rendered == speclib.render_index(clean_spec())


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Resume success (informative)", "resume-success-informative"),
        ("`hello.version`", "helloversion"),
        ("Server-Sent Events binding", "server-sent-events-binding"),
        ("[chat](x.md) stream", "chat-stream"),
        ("Ça va — déjà", "ca-va-deja"),
    ],
)
def test_slugify_matches_mkdocs(heading: str, anchor: str) -> None:
    assert speclib.slugify(heading) == anchor


def test_repeated_headings_get_numbered_anchors() -> None:
    page = speclib.parse_page("x.md", "# T\n\n## Example\n\n## Example\n\n## Example\n")
    assert list(page.anchors) == ["t", "example", "example_1", "example_2"]
