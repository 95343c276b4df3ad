"""Group commit: concurrent insert calls on one stream share one atomic batch.

nats-server stages every atomic batch of an R1 file stream in a fresh file store, which
costs milliseconds whatever the batch's size, and it commits batches of one stream one after
another. So while a batch is in flight, calls that arrive wait and then go together as the
next batch: each call is still all or nothing (it is part of one atomic batch), its records
stay contiguous, and calls that touch the same record subject never share a batch (the
server checks an expected subject sequence only once per batch). When a shared batch is
refused, each call is retried alone, so only the conflicting call fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

LINGER = 0.002  # seconds a batch waits for writers that took part in the last one

Message = tuple[str, dict[str, str], bytes]
Publish = Callable[[list[Message]], Awaitable[list[int]]]


@dataclass
class _Call:
    messages: list[Message]
    keys: frozenset[str]
    publish: Publish
    future: asyncio.Future[list[int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    """Queues insert calls for one stream and commits them in as few batches as it can."""

    def __init__(self, max_messages: int, conflict: type[Exception]) -> None:
        self.max_messages = max_messages
        self.conflict = conflict
        self._queue: list[_Call] = []
        self._leader: asyncio.Task[None] | None = None
        self._writers = 1  # calls to wait for before the next batch
        self._arrived = asyncio.Event()
        # Counters, for tests and benchmarks: batches sent, shared batches the server
        # refused for a conflict (each call then retried alone) and how many calls the
        # last of those carried, batches that failed otherwise.
        self.batches = 0
        self.refused_shared = 0
        self.last_refused_calls = 0
        self.failed = 0

    async def write(
        self, messages: list[Message], keys: frozenset[str], publish: Publish
    ) -> list[int]:
        """Commit `messages` atomically (maybe with other calls); return their sequences."""
        call = _Call(messages, keys, publish)
        self._queue.append(call)
        if len(self._queue) >= self._writers:
            self._arrived.set()
        if self._leader is None or self._leader.done():
            self._leader = asyncio.get_running_loop().create_task(self._drain())
        return await call.future

    async def _drain(self) -> None:
        while True:
            if len(self._group(self._queue)[0]) < self._writers:
                # The writers of the last batch are preparing their next calls: wait for
                # them briefly, or the next batch would carry one call and the rest wait.
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), LINGER)
            group = self._next_group()
            if not group:
                if not self._queue:
                    return
                continue
            await self._commit(group)
            # Wait for writers next time only where grouping happened (not when calls
            # queue up because they conflict with each other).
            self._writers = len(group) + len(self._group(self._queue)[0]) if len(group) > 1 else 1

    def _next_group(self) -> list[_Call]:
        group, self._queue = self._group(self._queue)
        return group

    def _group(self, queue: list[_Call]) -> tuple[list[_Call], list[_Call]]:
        """Split `queue` into the calls the next batch can take (in order) and the rest."""
        group: list[_Call] = []
        taken: set[str] = set()
        size = 0
        rest: list[_Call] = []
        for call in queue:
            if call.future.done():  # the caller gave up while it waited
                continue
            fits = size + len(call.messages) <= self.max_messages or not group
            if fits and not (taken & call.keys) and not rest:
                group.append(call)
                taken |= call.keys
                size += len(call.messages)
            else:
                rest.append(call)
        return group, rest

    async def _commit(self, group: list[_Call]) -> None:
        messages = [m for call in group for m in call.messages]
        self.batches += 1
        task = asyncio.ensure_future(group[0].publish(messages))

        def give_up(_: object) -> None:
            # Nobody waits any more (every caller timed out): do not write late.
            if all(call.future.cancelled() for call in group):
                task.cancel()

        for call in group:
            call.future.add_done_callback(give_up)
        await asyncio.wait([task])
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, self.conflict) and len(group) > 1:
            self.refused_shared += 1
            self.last_refused_calls = len(group)
            for call in group:  # find the call that conflicts; the others go through
                await self._commit([call])
            return
        if exc is not None:
            self.failed += 1
            for call in group:
                _fail(call, exc)
            return
        seqs = task.result()
        offset = 0
        for call in group:
            if not call.future.done():
                call.future.set_result(seqs[offset : offset + len(call.messages)])
            offset += len(call.messages)


def _fail(call: _Call, exc: BaseException) -> None:
    if not call.future.done():
        call.future.set_exception(exc)
