"""The trades view, fed real facts through `Views` and committed to a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus import subjects
from bus.codec import encode
from bus.schemas import AccountSnapshot, PositionClosed, PositionModified, PositionOpened
from projections import analytics_reads as trades
from projections.db import Database, open_database
from projections.settings import AccountSettings
from projections.views import Views

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACCOUNT = "acc-1"


def msc(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Log:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.views = Views({ACCOUNT: AccountSettings(account_id=ACCOUNT)})
        self.views.load(db)
        self.seq = self.views.mt5_seq

    def fact(self, subject: str, message: Any) -> None:
        self.seq += 1
        self.views.apply_fact(self.seq, subject, encode(message))

    def commit(self) -> None:
        with self.db.transaction() as cur:
            self.views.save(cur)
        self.views.clear()

    def position(self, kind: str, **fields: Any) -> None:
        base: dict[str, Any] = {
            "account_id": ACCOUNT,
            "ticket": fields["identifier"],
            "symbol": "EURUSD",
            "side": "buy",
            "volume": 0.1,
            "price_open": 1.1,
            "price_current": 1.1,
            "magic": 7,
            "comment": "breakout",
        }
        base.update(fields)
        kinds = {"opened": PositionOpened, "modified": PositionModified, "closed": PositionClosed}
        self.fact(subjects.position(ACCOUNT, kind), kinds[kind](**base))

    def snapshot(self, at: datetime, equity: float, balance: float) -> None:
        self.fact(
            subjects.account_snapshot(ACCOUNT),
            AccountSnapshot(
                account_id=ACCOUNT,
                login=1,
                balance=balance,
                equity=equity,
                margin=0.0,
                margin_free=equity,
                margin_level=0.0,
                profit=equity - balance,
                currency="USD",
                server="Sim",
                time=at,
            ),
        )


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_database(f"sqlite:///{tmp_path / 'views.sqlite'}")


def test_a_closed_position_becomes_a_trade_with_its_costs_and_r(db: Database) -> None:
    log = Log(db)
    log.snapshot(T0, 10000.0, 10000.0)
    log.position("opened", identifier=1, sl=1.095, time_msc=msc(T0))
    log.commit()
    # a restart: the open row is read back from the database
    log = Log(db)
    log.position(
        "closed",
        identifier=1,
        sl=1.098,  # moved later: R is still from the stop at open
        time_msc=msc(T0),
        close_price=1.11,
        close_time_msc=msc(T0 + timedelta(minutes=30)),
        profit=93.0,
        commission=-5.0,
        swap=-2.0,
        deal_reason="tp",
    )
    log.snapshot(T0 + timedelta(minutes=30), 10093.0, 10093.0)
    log.commit()
    [trade] = trades.trades_in(db, ACCOUNT, None, None)
    doc = trades.trade_doc(trade)
    assert doc["net_profit"] == 93.0
    assert doc["gross_profit"] == 100.0
    assert doc["commission"] == -5.0
    assert doc["swap"] == -2.0
    assert doc["duration_s"] == 1800.0
    assert doc["r_multiple"] == 2.0  # 0.0100 up over a 0.0050 risk
    assert doc["strategy"] == "7"
    assert doc["signal"] == "breakout"
    assert doc["reason"] == "tp"


def test_the_first_stop_set_after_an_open_without_one_is_the_risk(db: Database) -> None:
    log = Log(db)
    log.position("opened", identifier=2, time_msc=msc(T0))
    log.position("modified", identifier=2, sl=1.09, time_msc=msc(T0), changed=("sl",))
    log.position("modified", identifier=2, sl=1.1, time_msc=msc(T0), changed=("sl",))
    log.position(
        "closed",
        identifier=2,
        sl=1.1,
        time_msc=msc(T0),
        close_price=1.1,
        close_time_msc=msc(T0 + timedelta(hours=1)),
        profit=0.0,
    )
    log.commit()
    [trade] = trades.trades_in(db, ACCOUNT, None, None)
    assert trade.sl_open == 1.09
    assert trade.r_multiple == 0.0


def test_the_report_reads_trades_and_equity_in_the_range(db: Database) -> None:
    log = Log(db)
    log.snapshot(T0, 1000.0, 1000.0)
    for ident, (day, profit) in enumerate([(0, 50.0), (1, -20.0), (3, 10.0)], start=1):
        at = T0 + timedelta(days=day)
        log.position("opened", identifier=ident, sl=1.09, time_msc=msc(at))
        log.snapshot(at + timedelta(minutes=1), 1000.0 + profit, 1000.0)
        log.position(
            "closed",
            identifier=ident,
            time_msc=msc(at),
            close_price=1.1,
            close_time_msc=msc(at + timedelta(minutes=2)),
            profit=profit,
        )
    log.commit()
    everything = trades.analytics_report(db, ACCOUNT, None, None)
    assert everything["stats"]["trades"] == 3
    assert everything["stats"]["net_profit"] == 40.0
    assert everything["stats"]["start_balance"] == 1000.0
    # equity 1000 -> 1050 -> 980 (the second day's trade at -20)
    assert everything["stats"]["max_drawdown_equity"] == 70.0
    second_day = trades.analytics_report(
        db, ACCOUNT, T0 + timedelta(days=1), T0 + timedelta(days=2)
    )
    assert second_day["stats"]["trades"] == 1
    assert second_day["stats"]["net_profit"] == -20.0
    assert [d["date"] for d in second_day["daily"]] == ["2026-03-03"]


def test_a_rebuild_drops_the_trades(db: Database) -> None:
    log = Log(db)
    log.position("opened", identifier=3, time_msc=msc(T0))
    log.commit()
    assert db.query("SELECT COUNT(*) FROM proj_trades") == [(1,)]
    db.drop_views()
    assert db.query("SELECT COUNT(*) FROM proj_trades") == [(0,)]
