"""A deterministic scripted fact log: many accounts trading, some breaching their limits."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bus import subjects
from bus.codec import encode, fact_msg_id
from bus.schemas import AccountSnapshot, OrderExecuted, PositionClosed, PositionOpened
from bus.schemas.base import Message

START = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)  # crosses midnight in Prague (and DST)


@dataclass(frozen=True)
class ScriptedFact:
    subject: str
    data: bytes
    msg_id: str


def scenario_config(tmp: Path, accounts: int) -> Path:
    """A config for `accounts` accounts with varied rules (grace, confirmations, trailing)."""
    lines = [
        "defaults:",
        "  symbols:",
        "    - {name: EURUSD, digits: 5, contract_size: 100000}",
        "    - {name: GBPUSD, digits: 5, contract_size: 100000}",
        "  risk:",
        "    initial_capital: 100000",
        "    max_positions: 4",
        "    max_lots_per_symbol: 1.0",
        "    daily_loss: {limit_percent: 3, timezone: Europe/Prague}",
        "accounts:",
    ]
    for i in range(accounts):
        lines.append(f"  - id: {account_id(i)}")
        if i % 3 == 1:
            lines.append(
                "    risk: {breach_confirmations: 2, liquidation_grace_seconds: 60,"
                " max_loss: {kind: trailing_intraday, limit_percent: 6}}"
            )
        elif i % 3 == 2:
            lines.append(
                "    risk: {daily_loss: {limit_percent: 2, anchor: max_balance_equity,"
                " basis: anchor, timezone: Etc/GMT-3}, actions: {daily_loss: halt}}"
            )
    path = tmp / "scenario.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def account_id(index: int) -> str:
    return f"acc-{index:03d}"


def scripted_facts(accounts: int, per_account: int, seed: int = 7) -> list[ScriptedFact]:
    """`accounts * per_account` facts, interleaved across accounts in time order."""
    streams = [
        _account_facts(i, per_account, random.Random(seed * 1000 + i)) for i in range(accounts)
    ]
    out: list[ScriptedFact] = []
    for step in range(per_account):
        for facts in streams:
            fact = next(facts, None)
            if fact is not None:
                out.append(fact)
        del step
    return out


def _account_facts(index: int, count: int, rng: random.Random) -> Iterator[ScriptedFact]:
    acct = account_id(index)
    balance = 100_000.0
    equity = balance
    drift = -0.0006 if index % 4 == 0 else 0.0001
    open_ids: list[int] = []
    next_id = index * 100_000 + 1
    now = START + timedelta(seconds=index)
    for n in range(count):
        now += timedelta(seconds=30)
        roll = rng.random()
        if roll < 0.08 and len(open_ids) < 6:
            ident = next_id
            next_id += 1
            open_ids.append(ident)
            yield _fact(
                acct,
                "opened",
                ident,
                PositionOpened(
                    account_id=acct,
                    ticket=ident,
                    identifier=ident,
                    symbol=rng.choice(["EURUSD", "GBPUSD"]),
                    side=rng.choice(["buy", "sell"]),
                    volume=rng.choice([0.1, 0.5, 1.5]),
                    price_open=1.085,
                    price_current=1.085,
                    sl=rng.choice([0.0, 1.08]),
                    reason="expert",
                    time_msc=int(now.timestamp() * 1000),
                ),
            )
        elif roll < 0.14 and open_ids:
            ident = open_ids.pop(rng.randrange(len(open_ids)))
            profit = round(rng.uniform(-400, 300), 2)
            balance = round(balance + profit, 2)
            msc = int(now.timestamp() * 1000)
            yield _fact(
                acct,
                "closed",
                ident,
                PositionClosed(
                    account_id=acct,
                    ticket=ident,
                    identifier=ident,
                    symbol="EURUSD",
                    side="buy",
                    volume=0.1,
                    price_open=1.085,
                    price_current=1.086,
                    profit=profit,
                    time_msc=msc,
                    close_price=1.086,
                    deal_reason=rng.choice(["client", "sl", "tp"]),
                    close_time_msc=msc,
                ),
            )
        elif roll < 0.15:
            cid = f"{acct}-x{n}"
            yield _fact(
                acct,
                "executed",
                cid,
                OrderExecuted(
                    account_id=acct,
                    command_id=cid,
                    ticket=0,
                    retcode=10009,
                    time=now,
                ),
            )
        else:
            equity = round(max(1000.0, equity * (1 + drift + rng.gauss(0, 0.002))), 2)
            if not open_ids:
                equity = balance
            yield _fact(
                acct,
                "account",
                now.isoformat(),
                AccountSnapshot(
                    account_id=acct,
                    login=index + 1,
                    balance=balance,
                    equity=equity,
                    margin=0.0,
                    margin_free=equity,
                    margin_level=0.0,
                    profit=round(equity - balance, 2),
                    currency="USD",
                    server="sim",
                    time=now,
                ),
            )


def _fact(acct: str, kind: str, source: object, message: Message) -> ScriptedFact:
    if kind in ("opened", "closed"):
        subject = subjects.position(acct, kind)
    elif kind == "executed":
        subject = subjects.order(acct, kind)
    else:
        subject = subjects.account_snapshot(acct)
    return ScriptedFact(subject, encode(message), fact_msg_id(acct, kind, source))
