"""Each preset against its firm's own worked example, through the pure domain.

The rules come from the shipped preset (config loader -> engine/rules.py), the decisions from
`AccountRisk`. The quoted text is the firm's page the preset cites (read 2026-12-04).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from config.models import AccountConfig
from config.presets import load_preset
from domain import AccountRisk, AccountState, FactRef, RiskRules
from engine.rules import rules_for


def preset_rules(name: str, initial: int) -> RiskRules:
    """The domain rules of an account that names preset `name` and nothing else."""
    risk = {**load_preset(name), "preset": name, "initial_capital": initial}
    account = AccountConfig.model_validate(
        {"id": "acc-1", "symbols": [{"name": "EURUSD"}], "risk": risk}
    )
    return rules_for(account)


class Run:
    """Snapshots for one account under a preset; keeps every recorded event."""

    def __init__(self, preset: str, initial: int) -> None:
        self.rules = preset_rules(preset, initial)
        self.account: AccountRisk | None = None
        self.log: list[Any] = []
        self.seq = 0

    def at(self, when: str, balance: str, equity: str | None = None) -> list[Any]:
        """Observe a snapshot stamped `when` (ISO, UTC); the events it recorded."""
        self.seq += 1
        ref = FactRef(self.seq, datetime.fromisoformat(when).replace(tzinfo=UTC))
        if self.account is None:
            self.account = AccountRisk.register("acc-1", self.rules, ref)
        state = AccountState(Decimal(balance), Decimal(equity if equity else balance))
        self.account.observe_account(state, ref)
        events = list(self.account.collect_events())
        self.log.extend(events)
        return events

    def floor(self, rule: str) -> Decimal:
        assert self.account is not None
        return Decimal(self.account.summary()["limits"][rule]["floor"])

    def day_start(self) -> str:
        assert self.account is not None
        start: str = self.account.summary()["day"]["start"]
        return start

    def breached(self, rule: str) -> bool:
        return any(type(e).__name__ == "DrawdownBreached" and e.rule == rule for e in self.log)


# --- FTMO 2-Step -------------------------------------------------------------------------
# academy.ftmo.com/lesson/maximum-daily-loss: "Account balance at midnight CE(S)T of the
# previous day - 5% of the Initial Simulated Capital"; "If your equity drops below this
# limit, the rule is considered violated."


def test_ftmo_2step_when_balance_100000_then_daily_floor_95000_and_a_cent_below_breaches() -> None:
    run = Run("ftmo-2step", 100_000)
    run.at("2026-12-07T08:00:00", "100000.00")
    assert run.floor("daily") == Decimal("95000.00")
    run.at("2026-12-07T09:00:00", "100000.00", "95000.00")
    assert not run.breached("daily")  # at the floor: FTMO's "drops below" is not yet met
    run.at("2026-12-07T09:00:01", "100000.00", "94999.99")
    assert run.breached("daily")


def test_ftmo_2step_when_floating_loss_carried_over_midnight_then_new_floor_breaches() -> None:
    # "If you have a $200,000 FTMO Account, you must never exceed the total equity loss of
    # $10,000 in one day." "your Monday trading session resulted in a closed profit of
    # $4,000. Your Maximum permitted Loss for the rest of the day is now at $14,000. If you
    # would now open a new trade which would go into a $13,000 floating loss, then up until
    # 11:59 PM, you would be still staying within the limit [...] at 12 AM on Tuesday your
    # permitted loss is by default reset to $10,000. If you would still be carrying the
    # $13,000 floating loss, you would exceed [it]."
    run = Run("ftmo-2step", 200_000)
    run.at("2026-12-07T08:00:00", "200000.00")  # Monday 09:00 Prague
    run.at("2026-12-07T12:00:00", "204000.00")  # closed profit of $4,000
    run.at("2026-12-07T22:59:00", "204000.00", "191000.00")  # 23:59 Prague, -$13,000 open
    assert run.floor("daily") == Decimal("190000.00")
    assert not run.breached("daily")
    run.at("2026-12-07T23:00:00", "204000.00", "191000.00")  # midnight Prague
    assert run.floor("daily") == Decimal("194000.00")
    assert run.breached("daily")


def test_ftmo_2step_when_agent_silent_over_midnight_then_anchor_is_the_last_balance() -> None:
    # issue 16, bug 1: balance 100,000 at 23:59 Prague, silent until 03:00, then balance
    # 96,000 and equity 94,500: anchor 100,000, floor 95,000, a breach.
    run = Run("ftmo-2step", 100_000)
    run.at("2026-12-07T22:59:00", "100000.00")
    run.at("2026-12-08T02:00:00", "96000.00", "94500.00")  # 03:00 Prague
    assert run.floor("daily") == Decimal("95000.00")
    assert run.breached("daily")


def test_ftmo_2step_when_balance_92000_and_floating_loss_2001_then_max_loss_breached() -> None:
    # academy.ftmo.com/?p=47: "with a $100,000 Normal risk account, for example, your equity
    # can never be less than $90,000." "even if your balance would be $92,000, but you had a
    # floating loss of $2,001, the limit would be exceeded."
    run = Run("ftmo-2step", 100_000)
    run.at("2026-12-07T08:00:00", "92000.00")
    assert run.floor("max") == Decimal("90000.00")
    run.at("2026-12-07T09:00:00", "92000.00", "89999.00")
    assert run.breached("max")


# --- FTMO 1-Step -------------------------------------------------------------------------
# ftmo.com/au/?p=1671: "the highest account balance achieved at the end of any preceding
# trading day or, if higher, the Initial Simulated Capital, [minus] the Maximum Loss Amount
# [10% of the Initial Simulated Capital]. The limit can only increase, but never decrease."


def test_ftmo_1step_when_midnight_balances_104000_then_103000_then_floor_94000_both_days() -> None:
    # "Limit for Day 1 = $90,000"; "Balance at midnight CE(S)T between Day 1 and Day 2 =
    # $104,000 [...] Limit for Day 2 = $94,000"; "Balance at midnight CE(S)T between Day 2
    # and Day 3 = $103,000 [...] Limit for Day 3 = $94,000".
    run = Run("ftmo-1step", 100_000)
    run.at("2026-12-07T08:00:00", "100000.00")
    assert run.floor("max") == Decimal("90000.00")
    run.at("2026-12-07T22:59:59", "104000.00")
    assert run.floor("max") == Decimal("90000.00")  # intraday: unchanged
    run.at("2026-12-07T23:00:01", "104000.00")
    assert run.floor("max") == Decimal("94000.00")
    run.at("2026-12-08T22:59:59", "103000.00")
    run.at("2026-12-08T23:00:01", "103000.00")
    assert run.floor("max") == Decimal("94000.00")


def test_ftmo_1step_when_end_of_day_115000_then_floor_105000_above_initial() -> None:
    # issue 16, bug 2: no lock at the initial balance ("can only increase").
    run = Run("ftmo-1step", 100_000)
    run.at("2026-12-07T08:00:00", "100000.00")
    run.at("2026-12-07T22:00:00", "115000.00")
    run.at("2026-12-07T23:00:00", "115000.00")
    assert run.floor("max") == Decimal("105000.00")
    run.at("2026-12-08T09:00:00", "115000.00", "104999.99")
    assert run.breached("max")


def test_ftmo_1step_when_balance_100000_then_daily_floor_97000() -> None:
    run = Run("ftmo-1step", 100_000)
    run.at("2026-12-07T08:00:00", "100000.00")
    assert run.floor("daily") == Decimal("97000.00")


# --- The5ers High Stakes -----------------------------------------------------------------
# help.the5ers.com: "Daily loss is 5% of the starting equity of the day OR the starting
# balance of the day (the highest between them) at 5PM EST or 00:00 UTC+3 (Server time).
# Reaching any of these limits will lead to the termination of the account."


def test_the5ers_when_day_starts_with_equity_above_balance_then_5_percent_of_equity() -> None:
    run = Run("the5ers-high-stakes", 100_000)
    run.at("2026-07-14T20:59:00", "100000.00", "102000.00")
    run.at("2026-07-14T21:00:00", "100000.00", "102000.00")  # 17:00 New York, 00:00 UTC+3
    assert run.day_start() == "2026-07-14T21:00:00+00:00"
    assert run.floor("daily") == Decimal("96900.00")  # 102,000 - 5% of 102,000
    run.at("2026-07-15T09:00:00", "100000.00", "96900.00")
    assert run.breached("daily")  # "reaching" the limit is enough


def test_the5ers_when_winter_then_day_starts_at_22z_00_00_utc_plus_2() -> None:
    run = Run("the5ers-high-stakes", 100_000)
    run.at("2026-01-14T21:30:00", "100000.00")
    assert run.day_start() == "2026-01-13T22:00:00+00:00"
    run.at("2026-01-14T22:00:00", "100000.00")
    assert run.day_start() == "2026-01-14T22:00:00+00:00"


def test_the5ers_when_equity_reaches_90_percent_of_initial_then_max_loss_breached() -> None:
    # "The maximum loss is 10% of the initial balance."
    run = Run("the5ers-high-stakes", 100_000)
    run.at("2026-07-15T09:00:00", "93000.00")
    assert run.floor("max") == Decimal("90000.00")
    run.at("2026-07-15T09:00:01", "93000.00", "90000.00")
    assert run.breached("max")


# --- Topstep 50K -------------------------------------------------------------------------
# help.topstep.com (Maximum Loss Limit): "If you make $500 on the first trading day in the
# $50K account, your account balance will be $50,500, which will make your Maximum Loss Limit
# $48,500 ($2,000 from the account balance high). If you were to lose $500 the next day, your
# account balance would go back to $50,000, but your minimum account balance will remain
# $48,500." "if you were to make $2,500 the next day and your account balance is $52,500,
# your Maximum Loss Limit will move up to $50,000 and stay there."


def test_topstep_when_the_pages_three_days_then_mll_48000_48500_48500_50000() -> None:
    run = Run("topstep-50k", 50_000)
    run.at("2026-12-07T15:00:00", "50000.00")  # 09:00 Chicago
    assert run.floor("max") == Decimal("48000.00")
    run.at("2026-12-07T22:59:00", "50500.00")
    run.at("2026-12-07T23:00:00", "50500.00")  # 17:00 Chicago: the next trading day
    assert run.floor("max") == Decimal("48500.00")
    run.at("2026-12-08T22:59:00", "50000.00")
    run.at("2026-12-08T23:00:00", "50000.00")
    assert run.floor("max") == Decimal("48500.00")
    run.at("2026-12-09T22:59:00", "52500.00")
    run.at("2026-12-09T23:00:00", "52500.00")
    assert run.floor("max") == Decimal("50000.00")
    run.at("2026-12-10T22:59:00", "56000.00")
    run.at("2026-12-10T23:00:00", "56000.00")
    assert run.floor("max") == Decimal("50000.00")  # "and stay there"


def test_topstep_when_balance_at_the_mll_then_not_broken_a_cent_below_then_broken() -> None:
    # "If, while trading, the account balance falls below the minimum account balance [...]
    # the rule will be broken."
    run = Run("topstep-50k", 50_000)
    run.at("2026-12-07T15:00:00", "50000.00", "49000.00")
    run.at("2026-12-07T15:00:01", "50000.00", "48000.00")
    assert not run.breached("max")
    run.at("2026-12-07T15:00:02", "50000.00", "47999.99")
    assert run.breached("max")


def test_topstep_when_net_pnl_hits_minus_1000_then_daily_soft_breach() -> None:
    # help.futures.topstep.com: "If the Net P&L should hit or exceed the Daily Loss Limit
    # during the trading day (5:00 PM CT-3:10 PM CT), the account will hit a soft breach".
    run = Run("topstep-50k", 50_000)
    run.at("2026-12-07T15:00:00", "50000.00")
    assert run.floor("daily") == Decimal("49000.00")
    run.at("2026-12-07T15:00:01", "50000.00", "49000.00")
    assert run.breached("daily")
    assert not run.breached("max")


# --- FundedNext Stellar 2-Step -----------------------------------------------------------
# help.fundednext.com: "If you start with $100,000 and make a $2,000 profit by noon, your new
# loss limit for that day becomes $7,000 ($5,000 + $2,000)."; "Your account must not drop
# below 90% of its initial balance".


def test_fundednext_when_2000_profit_by_noon_then_7000_of_room_left() -> None:
    run = Run("fundednext-stellar-2step", 100_000)
    run.at("2026-07-14T21:00:00", "100000.00")  # 00:00 GMT+3 server time
    run.at("2026-07-15T09:00:00", "102000.00")  # noon server time
    assert run.floor("daily") == Decimal("95000.00")
    assert Decimal("102000.00") - run.floor("daily") == Decimal("7000.00")
    run.at("2026-07-15T09:30:00", "102000.00", "95000.01")
    assert not run.breached("daily")
    run.at("2026-07-15T09:30:01", "102000.00", "95000.00")
    assert run.breached("daily")  # stricter reading: at the floor already


def test_fundednext_when_equity_drops_to_90000_then_max_loss_breached() -> None:
    run = Run("fundednext-stellar-2step", 100_000)
    run.at("2026-07-15T09:00:00", "94000.00")
    assert run.floor("max") == Decimal("90000.00")
    run.at("2026-07-15T10:00:00", "94000.00", "90000.00")
    assert run.breached("max")


def test_fundednext_when_winter_then_day_starts_at_00_00_gmt_plus_2() -> None:
    run = Run("fundednext-stellar-2step", 100_000)
    run.at("2026-01-14T22:00:00", "100000.00")
    assert run.day_start() == "2026-01-14T22:00:00+00:00"
