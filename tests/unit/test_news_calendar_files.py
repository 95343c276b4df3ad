"""Issue 19: news calendars from CSV and iCalendar files, every problem as file:line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.calendar import CalendarError, load_calendar

ICS = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//mtq test//EN
BEGIN:VEVENT
UID:nfp
DTSTAMP:20260301T000000Z
DTSTART:20260306T133000Z
SUMMARY:Non-Farm Payrolls
CATEGORIES:USD
PRIORITY:1
END:VEVENT
BEGIN:VEVENT
UID:gold
DTSTAMP:20260301T000000Z
DTSTART;TZID=Europe/Prague:20260306T150000
SUMMARY:Gold auction
X-INSTRUMENTS:XAUUSD
X-IMPACT:medium
END:VEVENT
END:VCALENDAR
"""


def test_csv_when_valid_then_events_in_utc_sorted_with_currencies_and_instruments(
    tmp_path: Path,
) -> None:
    path = tmp_path / "week.csv"
    path.write_text(
        "time,currency,instruments,impact,title,source\n"
        "2026-03-06T15:30:00+01:00,EUR;usd,,High,ECB speech,ff\n"
        "2026-03-06T13:30:00,USD,,high,Non-Farm Payrolls,ff\n"
        ",,,,,\n"
        "2026-03-07T10:00:00Z,,XAUUSD US30,low,Gold fixing,ff\n"
    )
    calendar = load_calendar(path)
    assert calendar.source == "week.csv"
    assert [(e.time, e.title) for e in calendar.events] == [
        (datetime(2026, 3, 6, 13, 30, tzinfo=UTC), "Non-Farm Payrolls"),
        (datetime(2026, 3, 6, 14, 30, tzinfo=UTC), "ECB speech"),
        (datetime(2026, 3, 7, 10, 0, tzinfo=UTC), "Gold fixing"),
    ]
    assert calendar.events[1].currencies == ("EUR", "USD")
    assert calendar.events[1].impact == "high"
    assert calendar.events[2].instruments == ("XAUUSD", "US30")
    assert calendar.digest.startswith("sha256:")
    assert load_calendar(path).digest == calendar.digest


def test_csv_when_invalid_then_every_problem_as_file_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "time,currency,impact,title\n"
        "2026-03-06T13:30:00Z,USD,high,Non-Farm Payrolls\n"
        "yesterday,USD,high,Retail sales\n"
        "2026-03-06T15:00:00Z,US,severe,\n"
    )
    with pytest.raises(CalendarError) as raised:
        load_calendar(path)
    lines = raised.value.result.lines() if raised.value.result else []
    assert lines == [
        "error: bad.csv:3: time: not an ISO 8601 date-time: 'yesterday' [news_calendar]",
        "error: bad.csv:4: impact: impact 'severe' is not one of low, medium, high [news_calendar]",
        "error: bad.csv:4: title: title is empty [news_calendar]",
        "error: bad.csv:4: currency: not a currency code: 'US' [news_calendar]",
    ]


def test_csv_when_a_column_is_missing_then_the_header_line_says_so(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("time,title\n2026-03-06T13:30:00Z,NFP\n")
    with pytest.raises(CalendarError, match=r"short.csv:1: header: missing column\(s\): impact"):
        load_calendar(path)


def test_ics_when_valid_then_categories_priority_and_zones_read(tmp_path: Path) -> None:
    path = tmp_path / "week.ics"
    path.write_text(ICS)
    nfp, gold = load_calendar(path).events
    assert (nfp.time, nfp.currencies, nfp.impact) == (
        datetime(2026, 3, 6, 13, 30, tzinfo=UTC), ("USD",), "high",
    )  # fmt: skip
    assert (gold.time, gold.instruments, gold.impact) == (
        datetime(2026, 3, 6, 14, 0, tzinfo=UTC), ("XAUUSD",), "medium",
    )  # fmt: skip


def test_ics_when_an_event_has_a_date_only_then_its_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "holiday.ics"
    path.write_text(ICS.replace("DTSTART:20260306T133000Z", "DTSTART;VALUE=DATE:20260306"))
    with pytest.raises(CalendarError, match=r"holiday.ics:4: time: .*DTSTART is a date"):
        load_calendar(path)
