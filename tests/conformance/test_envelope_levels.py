"""The level of each ENV-* case comes from the spec's requirement index (spec index.md)."""

from __future__ import annotations

from typing import Any

import pytest

from canaux_conformance.cases import REGISTRY
from canaux_conformance.results import requirement_index
from canaux_conformance.suites import envelope
from canaux_conformance.suites.envelope import _case_id, client_vectors, vector_level

INDEX: dict[str, dict[str, Any]] = {
    "OPS-1": {"level": "MUST"},
    "HEARTBEAT-3": {"level": "SHOULD"},
    "CHAT-5": {"level": "SHOULD"},
    "TRANSPORT-9": {"level": "MAY"},
}


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope, "requirement_index", lambda: INDEX)


@pytest.mark.usefixtures("index")
class TestVectorLevel:
    def test_the_strongest_level_wins(self) -> None:
        assert vector_level(["TRANSPORT-9", "HEARTBEAT-3"]) == "SHOULD"
        assert vector_level(["TRANSPORT-9", "OPS-1", "CHAT-5"]) == "MUST"

    def test_a_vector_of_weaker_requirements_only_is_weaker(self) -> None:
        assert vector_level(["HEARTBEAT-3", "CHAT-5"]) == "SHOULD"
        assert vector_level(["TRANSPORT-9"]) == "MAY"

    def test_an_id_missing_from_the_index_counts_as_must(self) -> None:
        assert vector_level(["TRANSPORT-9", "NOWHERE-1"]) == "MUST"
        assert vector_level([]) == "MUST"

    def test_an_unknown_level_word_counts_as_must(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(envelope, "requirement_index", lambda: {"X-1": {"level": "OPTIONAL"}})
        assert vector_level(["X-1"]) == "MUST"


def test_registered_env_cases_carry_the_level_of_their_vector() -> None:
    """Every ENV-* case's level is the strongest spec level of its vector's requirements."""
    index = requirement_index()
    assert index, "the requirement index must be available to derive levels"
    strength = ("MUST", "SHOULD", "MAY")
    for vector in client_vectors():
        levels = [index.get(r, {}).get("level", "MUST") for r in vector["requirements"]]
        expected = min(levels, key=strength.index)
        assert REGISTRY[_case_id(vector)].level == expected, vector["name"]
