"""News calendars from files: CSV or iCalendar, every problem reported as `file:line`.

CSV: a header row, then one event a row. Columns `time` (ISO 8601; without an offset it is
UTC), `currency` (`USD`, or several: `EUR;USD`) and/or `instruments` (`XAUUSD;US30`),
`impact` (`low`, `medium`, `high`), `title`. Extra columns are ignored.

iCalendar (`.ics`): each VEVENT's DTSTART (a date-time), SUMMARY (the title), the currency
from `X-CURRENCY` or the three-letter CATEGORIES, `X-INSTRUMENTS`, and the impact from
`X-IMPACT` or PRIORITY (1-4 high, 5 medium, 6-9 low).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from config.errors import ConfigError, ConfigFileError, Issue, ValidationResult
from config.models import MtqConfig
from domain.news import IMPACTS, Calendar, Impact, NewsEvent

_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
_SYMBOL: Final = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_SPLIT: Final = re.compile(r"[;,|\s]+")
_REQUIRED: Final = ("time", "impact", "title")
RULE: Final = "news_calendar"


class CalendarError(ConfigError):
    """A calendar file with problems: `result` has each one as file:line."""

    @classmethod
    def of(cls, result: ValidationResult) -> CalendarError:
        head = f"invalid news calendar ({len(result.errors)} error(s))"
        return cls("\n".join([head, *(str(i) for i in result.errors)]), result)


def load_calendar(path: Path) -> Calendar:
    """The calendar in `path` (`.ics`: iCalendar, anything else: CSV)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read the news calendar: {exc}") from None
    name = path.name
    events = parse_ics(text, name) if path.suffix.lower() == ".ics" else parse_csv(text, name)
    return Calendar(tuple(events), name)


def _fail(issues: list[Issue], name: str) -> None:
    if issues:
        raise CalendarError.of(ValidationResult(errors=tuple(issues), files=(name,)))


def _issue(name: str, line: int, path: str, message: str) -> Issue:
    return Issue(file=name, path=path, rule=RULE, message=message, line=line)


def parse_csv(text: str, name: str) -> list[NewsEvent]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _REQUIRED if c not in header]
    if not ("currency" in header or "instruments" in header):
        missing.append("currency or instruments")
    if missing:
        _fail([_issue(name, 1, "header", f"missing column(s): {', '.join(missing)}")], name)
    reader.fieldnames = header
    events: list[NewsEvent] = []
    issues: list[Issue] = []
    for row in reader:
        line = reader.line_num
        cells = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if not any(cells.values()):
            continue
        found = _event(
            name,
            line,
            when=_time(cells.get("time", "")),
            raw_time=cells.get("time", ""),
            impact=cells.get("impact", ""),
            title=cells.get("title", ""),
            currencies=_SPLIT.split(cells.get("currency", "")),
            instruments=_SPLIT.split(cells.get("instruments", "")),
            issues=issues,
        )
        if found is not None:
            events.append(found)
    _fail(issues, name)
    return events


def _time(raw: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _event(
    name: str,
    line: int,
    *,
    when: datetime | None,
    raw_time: str,
    impact: str,
    title: str,
    currencies: Iterable[str],
    instruments: Iterable[str],
    issues: list[Issue],
) -> NewsEvent | None:
    before = len(issues)
    if when is None:
        issues.append(_issue(name, line, "time", f"not an ISO 8601 date-time: {raw_time!r}"))
    level = impact.lower()
    if level not in IMPACTS:
        issues.append(
            _issue(name, line, "impact", f"impact {impact!r} is not one of {', '.join(IMPACTS)}")
        )
    if not title:
        issues.append(_issue(name, line, "title", "title is empty"))
    codes = tuple(dict.fromkeys(c.upper() for c in currencies if c))
    symbols = tuple(dict.fromkeys(s for s in instruments if s))
    for code in codes:
        if not _CURRENCY.match(code):
            issues.append(_issue(name, line, "currency", f"not a currency code: {code!r}"))
    for symbol in symbols:
        if not _SYMBOL.match(symbol):
            issues.append(_issue(name, line, "instruments", f"not a symbol: {symbol!r}"))
    if not codes and not symbols:
        issues.append(_issue(name, line, "currency", "names no currency and no instrument"))
    if len(issues) > before or when is None:
        return None
    chosen: Impact = IMPACTS[IMPACTS.index(level)]
    return NewsEvent(when, chosen, title, codes, symbols)


def _ics_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "BEGIN:VEVENT"]


def _priority_impact(value: Any) -> str:
    try:
        priority = int(value)
    except (TypeError, ValueError):
        return str(value)
    if 1 <= priority <= 4:
        return "high"
    return "medium" if priority == 5 else "low"


def parse_ics(text: str, name: str) -> list[NewsEvent]:
    import icalendar  # noqa: PLC0415 - only a .ics file needs it

    try:
        parsed = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        _fail([_issue(name, 1, "VCALENDAR", f"not an iCalendar file: {exc}")], name)
        raise  # unreachable: _fail raised
    lines = _ics_lines(text)
    events: list[NewsEvent] = []
    issues: list[Issue] = []
    for index, component in enumerate(parsed.walk("VEVENT")):
        line = lines[index] if index < len(lines) else 1
        start = component.get("DTSTART")
        value = None if start is None else start.dt
        when: datetime | None = None
        if isinstance(value, datetime):
            when = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        raw = "" if value is None else str(value)
        if isinstance(value, date) and not isinstance(value, datetime):
            raw = f"{value} (DTSTART is a date)"
        impact = component.get("X-IMPACT") or _priority_impact(component.get("PRIORITY"))
        found = _event(
            name,
            line,
            when=when,
            raw_time=raw,
            impact=str(impact),
            title=str(component.get("SUMMARY", "")).strip(),
            currencies=_ics_currencies(component),
            instruments=_SPLIT.split(str(component.get("X-INSTRUMENTS", ""))),
            issues=issues,
        )
        if found is not None:
            events.append(found)
    _fail(issues, name)
    return events


def _ics_currencies(component: Any) -> list[str]:
    explicit = component.get("X-CURRENCY")
    if explicit is not None:
        return _SPLIT.split(str(explicit))
    categories = component.get("CATEGORIES")
    if categories is None:
        return []
    groups = categories if isinstance(categories, list) else [categories]
    return [str(c) for group in groups for c in group.cats if _CURRENCY.match(str(c).upper())]


def calendar_path(config: MtqConfig) -> Path | None:
    """The config's `news.calendar`, relative to the first config file's directory."""
    name = config.news.calendar
    if name is None:
        return None
    path = Path(name)
    if not path.is_absolute() and config.source:
        path = Path(config.source[0]).parent / path
    return path


def config_calendar(config: MtqConfig) -> Calendar | None:
    """The calendar the config names (CalendarError, ConfigFileError if it is not usable)."""
    path = calendar_path(config)
    return None if path is None else load_calendar(path)
