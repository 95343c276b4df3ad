"""Shared test helpers: poll instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    message: str = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    message: str = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for polling, not for one call
    interval: float = 0.05,
    message: str = "condition not met",
) -> Any:
    """Call `check` until it returns a truthy value without raising; return that value.

    `check` may be sync or async. AssertionError and other exceptions are retried until the
    timeout; the last one is re-raised with `message`.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return result
            last = AssertionError(f"{message}: got {result!r}")
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} within {timeout}s: {last!r}") from last
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Blocking twin of `eventually` for synchronous tests."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = AssertionError(f"{message}: got {result!r}")
        except Exception as exc:  # noqa: BLE001
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} within {timeout}s: {last!r}") from last
        time.sleep(interval)
