"""QADD-01 and QMOVE-01 against the reference and against their broken twins
(standard-channels.md QUEUE-5).

The broken servers move ``current`` back when a track is inserted at or before it, or moved
from after it to before it (broken/queue_faults.py): each case must fail its broken server
citing QUEUE-5, and pass the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from canaux.server.channels import playqueue
from canaux_conformance.outcomes import Verdict

if TYPE_CHECKING:
    from tests.conformance.broken.queue_faults import (
        add_shifts_current_back,
        move_shifts_current_back,
    )
    from tests.conformance.broken.reference_run import one_case
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.queue_faults import add_shifts_current_back, move_shifts_current_back
    from broken.reference_run import one_case


def test_the_reference_shifts_current_with_an_insert_before_it() -> None:
    verdict, _, message = one_case("QADD-01", seed=20261208)
    assert verdict is Verdict.PASS, message


def test_a_server_whose_add_moves_current_back_fails_citing_queue_5(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(playqueue._OPS, "add", add_shifts_current_back())
    verdict, requirement, message = one_case("QADD-01", seed=20261208)
    assert verdict is Verdict.FAIL, message
    assert requirement == "QUEUE-5", message


def test_the_reference_keeps_current_on_its_track_through_moves() -> None:
    verdict, _, message = one_case("QMOVE-01", seed=20261208)
    assert verdict is Verdict.PASS, message


def test_a_server_whose_move_shifts_current_back_fails_citing_queue_5(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(playqueue._OPS, "move", move_shifts_current_back())
    verdict, requirement, message = one_case("QMOVE-01", seed=20261208)
    assert verdict is Verdict.FAIL, message
    assert requirement == "QUEUE-5", message
