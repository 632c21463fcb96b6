"""BUF-02 against the reference and against its broken twin (limits.md LIMIT-11).

One broken server trims its resume buffer while it holds ``resume_buffer_bytes`` or more, so
a run of events of exactly the bound loses its oldest event (the mutant of the power run); the
other keeps a run of the bound + 1 bytes (broken/buffer_faults.py). BUF-02 must fail both
citing LIMIT-11, and pass the reference, whose defaults it meets (64 KiB frames, 1 MiB of
buffer, 1024 events).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from canaux.protocol.session import SessionState
from canaux_conformance.outcomes import Verdict

if TYPE_CHECKING:
    from tests.conformance.broken.buffer_faults import (
        keeps_one_byte_too_many,
        trims_one_event_too_many,
    )
    from tests.conformance.broken.reference_run import one_case
else:  # pytest puts tests/conformance (no __init__.py) on sys.path
    from broken.buffer_faults import keeps_one_byte_too_many, trims_one_event_too_many
    from broken.reference_run import one_case


def test_the_reference_keeps_a_run_of_exactly_resume_buffer_bytes() -> None:
    verdict, _, message = one_case("BUF-02", seed=20261208, timeout=5.0)
    assert verdict is Verdict.PASS, message


@pytest.mark.parametrize(
    "trim",
    [trims_one_event_too_many, keeps_one_byte_too_many],
    ids=["one-event-too-few", "one-byte-too-many"],
)
def test_a_server_off_the_boundary_by_one_fails_citing_limit_11(
    monkeypatch: pytest.MonkeyPatch, trim: Callable[[], Callable[[SessionState], None]]
) -> None:
    monkeypatch.setattr(SessionState, "_trim", trim())
    verdict, requirement, message = one_case("BUF-02", seed=20261208, timeout=5.0)
    assert verdict is Verdict.FAIL, message
    assert requirement == "LIMIT-11", message
