"""AsyncTerminal: every call on one dedicated worker thread, with latency measured."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agents.terminal import AsyncTerminal, ManualClock, SimulatedTerminal
from agents.terminal.mt5.structures import AccountInfo, Tick
from agents.terminal.simulator import SimulatorSettings


class ThreadRecordingTerminal(SimulatedTerminal):
    """A simulator that notes which thread runs each call (and can be slowed down)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__(SimulatorSettings(seed=1), ManualClock())
        self.threads: list[int] = []
        self.delay_s = delay_s

    def account_info(self) -> AccountInfo | None:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay_s)
        return super().account_info()

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        self.threads.append(threading.get_ident())
        return super().symbol_info_tick(symbol)


async def test_async_terminal_when_many_concurrent_calls_then_all_run_on_one_worker_thread() -> (
    None
):
    sim = ThreadRecordingTerminal()
    terminal = AsyncTerminal(sim)
    try:
        assert await terminal.initialize()
        calls = [
            terminal.account_info() if i % 2 else terminal.symbol_info_tick("EURUSD")
            for i in range(40)
        ]
        results = await asyncio.gather(*calls)
        assert all(r is not None for r in results)
        assert len(set(sim.threads)) == 1
        assert sim.threads[0] == terminal.worker_thread_id
        assert sim.threads[0] != threading.get_ident()
    finally:
        await terminal.close()


async def test_async_terminal_when_call_is_slow_then_latency_reported_in_ms() -> None:
    terminal = AsyncTerminal(ThreadRecordingTerminal(delay_s=0.03))
    try:
        assert terminal.last_latency_ms is None
        assert terminal.avg_latency_ms is None
        latencies: list[float] = []
        for call in (terminal.initialize, terminal.account_info, terminal.positions_get):
            await call()
            assert terminal.last_latency_ms is not None
            latencies.append(terminal.last_latency_ms)
        # Only the slow call has a floor: how long the others take depends on the machine.
        assert latencies[1] >= 30.0
        assert terminal.calls == 3
        assert terminal.avg_latency_ms == pytest.approx(sum(latencies) / 3)
        assert terminal.max_latency_ms == pytest.approx(max(latencies))
    finally:
        await terminal.close()


async def test_async_terminal_when_call_fails_then_error_read_in_same_worker_job() -> None:
    terminal = AsyncTerminal(SimulatedTerminal(SimulatorSettings(seed=1), ManualClock()))
    try:
        info, error = await terminal.call_with_error("account_info")
        assert info is None
        assert error == (-10004, "No IPC connection")
        await terminal.initialize()
        result = await terminal.order_send(
            {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0}
        )
        assert result is not None
        assert result.retcode == 10009
        deals = await terminal.history_deals_get(position=result.order)
        assert deals is not None
        assert len(deals) == 1
    finally:
        await terminal.close()


async def test_async_terminal_when_closed_then_terminal_shut_down_and_calls_refused() -> None:
    sim = SimulatedTerminal(SimulatorSettings(seed=1), ManualClock())
    terminal = AsyncTerminal(sim)
    await terminal.initialize()
    await terminal.close()
    assert sim.account_info() is None  # shut down from the worker before it stopped
    with pytest.raises(RuntimeError, match="closed"):
        await terminal.account_info()
