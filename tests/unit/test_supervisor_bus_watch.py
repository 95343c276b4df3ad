"""The bus watch: a gap every agent shows at once is one bus problem, reported once."""

from __future__ import annotations

import logging

import pytest

from agents.supervisor.bus_watch import BusSignals, BusWatch, bus_trouble

FINE = BusSignals(connected=True, unanswered_s=0.0, agents_alive=3, agents_silent=0)


def test_trouble_when_all_answers_then_none() -> None:
    assert bus_trouble(FINE, silence_s=5.0) is None


@pytest.mark.parametrize(
    ("signals", "words"),
    [
        (BusSignals(False, 0.0, 3, 0), "connection is lost"),
        (BusSignals(True, 5.5, 3, 0), "not answered a ping for 5.5s"),
        (BusSignals(True, 0.0, 3, 3), "any of the 3 agents"),
    ],
)
def test_trouble_when_bus_cut_frozen_or_every_agent_silent_then_named(
    signals: BusSignals, words: str
) -> None:
    found = bus_trouble(signals, silence_s=5.0)
    assert found is not None
    assert words in found


def test_trouble_when_one_agent_of_several_silent_then_not_the_bus() -> None:
    assert bus_trouble(BusSignals(True, 0.0, 3, 2), silence_s=5.0) is None


def test_trouble_when_a_single_agent_silent_then_only_pings_decide() -> None:
    assert bus_trouble(BusSignals(True, 0.0, 1, 1), silence_s=5.0) is None


def test_watch_when_outage_lasts_many_checks_then_one_problem_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = BusWatch(silence_s=5.0)
    frozen = BusSignals(True, 6.0, 3, 3)
    caplog.set_level(logging.WARNING, logger="agents.supervisor.bus_watch")
    assert watch.observe(FINE, 0.0) is None
    assert watch.observe(frozen, 1.0) is False
    assert [watch.observe(frozen, 1.0 + i) for i in range(1, 20)] == [None] * 19
    assert not watch.ok
    assert watch.observe(FINE, 25.0) is True
    assert watch.ok
    assert len(watch.problems) == 1
    assert watch.problems[0].lasted_s == 24.0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "bus problem" in lines[0]
    assert "answering again after 24.0s" in lines[1]
    assert watch.as_json()["problems"] == 1
    assert watch.as_json()["state"] == "ok"
