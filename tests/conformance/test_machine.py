"""The machine: its delivery model, its asyncio bridge, and short live runs
(delivery.md, resume.md)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from canaux_conformance.delivery_model import DeliveryModel
from canaux_conformance.json_values import json_equal
from canaux_conformance.loop_thread import EventLoopThread, MachineStopped
from canaux_conformance.machine import make_machine, run_machine
from canaux_conformance.machine_run import MachineBudget, describe_failure
from canaux_conformance.outcomes import CaseFailed
from canaux_conformance.target import ReferenceServer, Target

C1, C2 = "conformance.t.m1.a", "conformance.t.m1.b"


def event(seq: int, channel: str, mark: str, **extra: Any) -> dict[str, Any]:
    return {"type": "event", "seq": seq, "channel": channel, "data": {"mark": mark, **extra}}


def failure(model: DeliveryModel, session: str, frame: dict[str, Any]) -> CaseFailed:
    with pytest.raises(CaseFailed) as info:
        model.on_event(session, frame)
    return info.value


@pytest.fixture
def model() -> DeliveryModel:
    """Sessions s1 (on C1 and C2) and s2 (on C1); m1, m2 published on C1, m3 on C2."""
    m = DeliveryModel()
    for session in ("s1", "s2", "s3"):
        m.open(session, None)
    m.subscribe("s1", C1)
    m.subscribe("s1", C2)
    m.subscribe("s2", C1)
    m.publish("m1", C1, {"mark": "m1"})
    m.publish("m2", C1, {"mark": "m2"})
    m.publish("m3", C2, {"mark": "m3"})
    return m


class TestExpectations:
    def test_each_publish_is_expected_by_the_subscribers_only(self, model: DeliveryModel) -> None:
        assert model.published["m1"].receivers == {"s1", "s2"}
        assert model.published["m3"].receivers == {"s1"}
        assert model.sessions["s1"].outstanding == 3
        assert model.sessions["s3"].outstanding == 0

    def test_a_correct_interleaving_across_channels_is_accepted(self, model: DeliveryModel) -> None:
        model.on_event("s1", event(1, C2, "m3"))
        model.on_event("s1", event(2, C1, "m1"))
        model.on_event("s1", event(3, C1, "m2"))
        assert model.sessions["s1"].outstanding == 0
        assert model.sessions["s1"].last_seq == 3

    def test_unsubscribed_sessions_expect_nothing_new(self, model: DeliveryModel) -> None:
        model.unsubscribe("s2", C1)
        model.publish("m4", C1, {"mark": "m4"})
        assert model.published["m4"].receivers == {"s1"}

    def test_a_reused_session_id_is_a_finding(self, model: DeliveryModel) -> None:
        with pytest.raises(CaseFailed) as info:
            model.open("s1", None)
        assert info.value.requirement == "RESUME-2"


class TestFindings:
    def test_gap_in_seq_breaks_delivery_1(self, model: DeliveryModel) -> None:
        assert failure(model, "s1", event(2, C1, "m1")).requirement == "DELIVERY-1"

    def test_repeated_event_breaks_delivery_6(self, model: DeliveryModel) -> None:
        model.on_event("s2", event(1, C1, "m1"))
        assert failure(model, "s2", event(1, C1, "m1")).requirement == "DELIVERY-6"

    def test_same_event_under_a_new_seq_breaks_delivery_6(self, model: DeliveryModel) -> None:
        model.on_event("s2", event(1, C1, "m1"))
        assert failure(model, "s2", event(2, C1, "m1")).requirement == "DELIVERY-6"

    def test_event_to_a_non_subscriber_breaks_delivery_2(self, model: DeliveryModel) -> None:
        assert failure(model, "s3", event(1, C1, "m1")).requirement == "DELIVERY-2"

    def test_event_relabelled_to_another_channel_breaks_delivery_2(
        self, model: DeliveryModel
    ) -> None:
        assert failure(model, "s1", event(1, C2, "m1")).requirement == "DELIVERY-2"

    def test_unknown_mark_breaks_delivery_2(self, model: DeliveryModel) -> None:
        assert failure(model, "s1", event(1, C1, "nobody")).requirement == "DELIVERY-2"

    def test_event_after_an_acked_unsubscribe_breaks_ops_6(self, model: DeliveryModel) -> None:
        model.unsubscribe("s2", C1)
        model.publish("m4", C1, {"mark": "m4"})
        model.on_event("s2", event(1, C1, "m1"))
        model.on_event("s2", event(2, C1, "m2"))
        assert failure(model, "s2", event(3, C1, "m4")).requirement == "OPS-6"

    def test_channel_order_broken_breaks_delivery_3(self, model: DeliveryModel) -> None:
        assert failure(model, "s2", event(1, C1, "m2")).requirement == "DELIVERY-3"

    def test_altered_data_breaks_delivery_5(self, model: DeliveryModel) -> None:
        assert failure(model, "s2", event(1, C1, "m1", body=1)).requirement == "DELIVERY-5"

    def test_disorder_during_a_replay_breaks_resume_3(self, model: DeliveryModel) -> None:
        model.resumed("s2", 2)
        assert failure(model, "s2", event(2, C1, "m2")).requirement == "RESUME-3"
        assert failure(model, "s2", event(1, C1, "m2")).requirement == "RESUME-3"

    def test_missing_after_resume_cites_resume_3(self, model: DeliveryModel) -> None:
        model.resumed("s2", 0)
        model.publish("m4", C1, {"mark": "m4"})
        assert model.missing("s2").requirement == "RESUME-3"
        assert model.missing("s1").requirement == "OPS-6"

    def test_assigned_counts_received_and_expected(self, model: DeliveryModel) -> None:
        model.on_event("s1", event(1, C2, "m3"))
        assert model.sessions["s1"].assigned == 3


class TestJsonEqual:
    @pytest.mark.parametrize(
        ("a", "b", "equal"),
        [
            (1, 1.0, True),
            (True, 1, False),
            (False, 0, False),
            (None, None, True),
            ({"a": [1, "x"]}, {"a": [1.0, "x"]}, True),
            ({"a": 1}, {"a": 1, "b": 2}, False),
            ([1, 2], [2, 1], False),
            ("1", 1, False),
        ],
    )
    def test_json_equality(self, a: Any, b: Any, equal: bool) -> None:
        assert json_equal(a, b) is equal


class TestEventLoopThread:
    def test_runs_coroutines_and_bounds_them(self) -> None:
        runner = EventLoopThread()
        try:

            async def answer() -> int:
                await asyncio.sleep(0)
                return 42

            assert runner.run(answer(), timeout=10) == 42
            never = asyncio.Event()

            async def hang() -> None:
                await never.wait()

            with pytest.raises(TimeoutError):
                runner.run(hang(), timeout=0.2)
        finally:
            runner.stop()
        assert not runner.loop.is_running()


# --------------------------------------------------------------------------- live runs


@pytest.fixture(scope="module")
def reference() -> Iterator[Target]:
    """The reference server in a subprocess (the suite's own launcher), for the whole module."""
    runner = EventLoopThread("reference-server")
    server = ReferenceServer()
    try:
        yield runner.run(server.start(), timeout=60)
    finally:
        runner.run(server.stop(), timeout=30)
        runner.stop()


def test_a_correct_server_passes_a_short_run_and_the_result_counts_it(reference: Target) -> None:
    result = run_machine(reference, MachineBudget(3, 10, 5.0), seed=7, timeout=10.0)
    assert result.seed == 7
    assert result.examples >= 3
    assert result.steps >= 3
    assert result.publishes >= 1  # every example ends with a barrier publish


def test_third_parties_run_the_machine_class_with_their_own_settings(reference: Target) -> None:
    machine = make_machine(reference, timeout=10.0)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=2,
                stateful_step_count=6,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        if machine.runtime.loop is not None:
            machine.runtime.loop.stop()
    assert machine.runtime.examples >= 2
    assert machine.runtime.last_transcript is not None
    assert machine.runtime.last_transcript.replay()  # frames were really sent


def test_a_stopped_run_ends_at_once_without_a_finding(reference: Target) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(MachineStopped):
        run_machine(reference, MachineBudget(2, 5, 1.0), seed=1, timeout=10.0, stop=stop)


class TestDescribeFailure:
    def test_a_failure_that_did_not_reproduce_shows_the_failing_example(self) -> None:
        """It printed "minimal example (…, did not reproduce on replay):" and nothing after."""
        text = describe_failure(
            "[OPS-1] no ack", seed=7, steps="", flaky=True, transcript="A -> {...}"
        )
        assert "minimal example" not in text
        assert "did not reproduce when Hypothesis replayed the same steps" in text
        assert text.endswith("transcript of the example that failed:\nA -> {...}")

    def test_shrunk_steps_come_with_their_transcript(self) -> None:
        text = describe_failure("boom", seed=7, steps="state.cut(0)", flaky=False, transcript="T")
        assert "minimal example (seed 7):\nstate.cut(0)" in text
        assert text.endswith("transcript of that example:\nT")

    def test_never_a_heading_followed_by_nothing(self) -> None:
        for flaky in (True, False):
            text = describe_failure("boom", seed=1, steps="  ", flaky=flaky, transcript="")
            assert not text.rstrip().endswith(":")
            assert "(no transcript was recorded)" in text
