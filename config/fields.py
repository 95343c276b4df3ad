"""Constrained field types shared by the config models; each failure names its rule."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from bus.subjects import TOKEN_RULE, is_token

ENV_VAR_RULE: Final = "letters, digits and '_', not starting with a digit"
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIME_OF_DAY = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _fmt(value: float) -> str:
    return f"{value:g}"


def between(lo: float, hi: float, *, lo_open: bool = False, rule: str = "range") -> AfterValidator:
    """Check lo <= value <= hi (lo < value with `lo_open`), failing with `rule`."""

    def check(value: float) -> float:
        too_low = value <= lo if lo_open else value < lo
        if too_low or value > hi:
            low = f"above {_fmt(lo)}" if lo_open else f"at least {_fmt(lo)}"
            raise PydanticCustomError(
                rule, f"must be {low} and at most {_fmt(hi)}, got {_fmt(value)}"
            )
        return value

    return AfterValidator(check)


def _token(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not is_token(value):
            raise PydanticCustomError(
                "subject_token", f"{what} {value!r} is not subject-safe: {TOKEN_RULE}"
            )
        return value

    return check


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", f"unknown IANA time zone {value!r} (e.g. Europe/Prague, Etc/GMT-3)"
        ) from None
    return value


def _time_of_day(value: str) -> str:
    if not _TIME_OF_DAY.match(value):
        raise PydanticCustomError("time_of_day", f"must be HH:MM (00:00 to 23:59), got {value!r}")
    return value


def _env_var(value: str) -> str:
    if not _ENV_VAR.match(value):
        raise PydanticCustomError(
            "env_var_name", f"{value!r} is not an environment variable name: {ENV_VAR_RULE}"
        )
    return value


AccountId = Annotated[str, AfterValidator(_token("account id"))]
SymbolName = Annotated[str, AfterValidator(_token("symbol"))]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
EnvVarName = Annotated[str, AfterValidator(_env_var)]
Percent = Annotated[float, between(0, 100, lo_open=True)]
"""A percentage above 0 and at most 100."""
PercentOrZero = Annotated[float, between(0, 100)]
Fraction = Annotated[float, between(0, 1, lo_open=True)]
Probability = Annotated[float, between(0, 1)]
