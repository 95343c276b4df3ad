"""ServerClock: the broker server's UTC offset measured from fresh ticks."""

from __future__ import annotations

from agents.server_clock import ServerClock

HOUR = 3_600_000
NOW = 1_773_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_offset_when_fresh_tick_a_few_seconds_old_then_rounded_to_quarter_hours() -> None:
    clock = Clock()
    server = ServerClock(clock)
    server.observe(int(NOW * 1000) + 3 * HOUR - 4_000, fresh=True)
    assert server.offset_ms == 3 * HOUR
    assert server.offset_s == 3 * 3600
    assert server.to_utc(int(NOW * 1000) + 3 * HOUR) == int(NOW * 1000)


def test_offset_when_only_first_tick_seen_then_provisional_and_not_published() -> None:
    server = ServerClock(Clock())
    server.observe(int(NOW * 1000) + 2 * HOUR, fresh=False)
    assert server.offset_ms == 2 * HOUR
    assert server.offset_s is None  # the heartbeat says: not measured yet
    assert server.due()


def test_offset_when_tick_days_old_then_ignored() -> None:
    server = ServerClock(Clock())
    server.observe(int(NOW * 1000) - 60 * HOUR, fresh=False)  # a weekend-old quote
    assert server.offset_ms is None
    assert server.to_utc(5_000) == 5_000


def test_offset_when_dst_changes_then_taken_after_two_agreeing_readings() -> None:
    clock = Clock()
    server = ServerClock(clock, recheck_s=60)
    server.observe(int(clock.now * 1000) + 2 * HOUR, fresh=True)
    clock.now += 61
    assert server.due()
    server.observe(int(clock.now * 1000) + 3 * HOUR, fresh=True)
    assert server.offset_ms == 2 * HOUR  # one reading could be a late tick
    assert server.due()  # so the next fresh tick is looked at at once
    clock.now += 0.1
    server.observe(int(clock.now * 1000) + 3 * HOUR, fresh=True)
    assert server.offset_ms == 3 * HOUR
    assert server.changes == 1
    assert not server.due()


def test_offset_when_expired_after_reconnect_then_measured_on_next_fresh_tick() -> None:
    clock = Clock()
    server = ServerClock(clock, recheck_s=3600)
    server.observe(int(clock.now * 1000) + 2 * HOUR, fresh=True)
    assert not server.due()
    clock.now += 3599
    assert not server.due()
    server.expire()
    assert server.due()
