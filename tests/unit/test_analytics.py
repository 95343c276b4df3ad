"""Each statistic of `projections.analytics` against numbers worked out by hand.

The fixture: five closed trades over Monday 2 to Thursday 5 March 2026,
net P/L 100, -50, 30, -20, 0 (see `TRADES`), and four equity minutes whose path
(open, high, low, close) makes the drawdowns below.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from projections import analytics
from projections.analytics import Bar, Trade


def msc(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 3, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def trade(  # noqa: PLR0917 - a fixture row
    ident: int,
    symbol: str,
    side: str,
    magic: int,
    opened: int,
    closed: int,
    price_open: float,
    close_price: float,
    sl: float,
    profit: float,
    commission: float = 0.0,
) -> Trade:
    return Trade(
        account_id="acc",
        identifier=ident,
        symbol=symbol,
        side=side,
        volume=0.1,
        magic=magic,
        comment=f"sig-{ident}",
        opened_msc=opened,
        closed_msc=closed,
        price_open=price_open,
        close_price=close_price,
        sl_open=sl,
        profit=profit,
        commission=commission,
    )


TRADES = [
    # +100 net (107 gross, -7 commission), R = 0.0100 / 0.0050 = 2
    trade(1, "EURUSD", "buy", 1, msc(2, 9), msc(2, 10), 1.1000, 1.1100, 1.0950, 100.0, -7.0),
    # -50, stopped out: R = -1
    trade(2, "EURUSD", "sell", 1, msc(2, 14), msc(2, 14, 30), 1.1100, 1.1150, 1.1150, -50.0),
    # +30, no SL: no R
    trade(3, "XAUUSD", "buy", 2, msc(3, 9), msc(3, 10, 15), 2000.0, 2010.0, 0.0, 30.0),
    # -20: R = -5 / 10 = -0.5
    trade(4, "XAUUSD", "buy", 2, msc(5, 8), msc(5, 9), 2010.0, 2005.0, 2000.0, -20.0),
    # breakeven: R = 0
    trade(5, "EURUSD", "sell", 1, msc(5, 9, 30), msc(5, 10), 1.1000, 1.1000, 1.1050, 0.0),
]


def test_trade_fields() -> None:
    first = TRADES[0]
    assert first.gross == pytest.approx(107.0)
    assert first.duration_s == 3600.0
    assert first.r_multiple == pytest.approx(2.0)
    assert TRADES[1].r_multiple == pytest.approx(-1.0)
    assert TRADES[2].r_multiple is None
    assert TRADES[3].r_multiple == pytest.approx(-0.5)
    assert TRADES[4].r_multiple == pytest.approx(0.0)
    assert first.strategy == "1"


def test_r_multiple_ignores_a_stop_on_the_wrong_side() -> None:
    assert analytics.r_multiple("buy", 1.10, 1.12, 1.11) is None
    assert analytics.r_multiple("sell", 1.10, 1.08, 1.09) is None


def test_summary() -> None:
    s = analytics.summary(TRADES)
    assert (s["trades"], s["wins"], s["losses"], s["breakeven"]) == (5, 2, 2, 1)
    assert s["net_profit"] == 60.0
    assert s["gross_profit"] == 130.0
    assert s["gross_loss"] == -70.0
    assert s["commission"] == -7.0
    assert s["win_rate"] == 0.4
    assert s["profit_factor"] == 1.8571  # 130 / 70
    assert s["expectancy"] == 12.0  # 60 / 5
    assert s["average_win"] == 65.0
    assert s["average_loss"] == -35.0
    assert s["largest_win"] == 100.0
    assert s["largest_loss"] == -50.0
    assert (s["longest_win_streak"], s["longest_loss_streak"]) == (1, 1)
    assert s["average_r"] == 0.125  # (2 - 1 - 0.5 + 0) / 4
    # 3600 + 1800 + 4500 + 3600 + 1800 seconds
    assert s["average_duration_s"] == 3060.0


def test_summary_of_nothing_has_no_ratios() -> None:
    s = analytics.summary([])
    assert s["trades"] == 0
    assert s["net_profit"] == 0.0
    for key in ("win_rate", "profit_factor", "expectancy", "average_win", "largest_loss"):
        assert s[key] is None


def test_longest_streaks_a_breakeven_ends_both() -> None:
    assert analytics.longest_streaks([1, 2, -1, -1, -1, 0, 3]) == (2, 3)
    assert analytics.longest_streaks([1, 1, 0, 1, 1, 1]) == (3, 0)


BARS = [
    # rising minutes dip first: 100, 95, 110, 105 (fall 5 from 100, then 5 from 110)
    Bar("2026-03-02T10:00", 100.0, 110.0, 95.0, 105.0),
    # 105, 100, 120, 118: 100 is 10 below the peak of 110
    Bar("2026-03-02T10:01", 105.0, 120.0, 100.0, 118.0),
    # falling minutes rise first: 118, 119, 90, 92: 90 is 30 (25%) below the peak of 120
    Bar("2026-03-02T10:02", 118.0, 119.0, 90.0, 92.0),
    # 92, 91, 130, 100: 29 below 120, then 100 is 30 (23.08%) below the new peak of 130
    Bar("2026-03-03T09:00", 92.0, 130.0, 91.0, 100.0),
]


def test_max_drawdown_follows_each_minute_in_its_likely_order() -> None:
    money, percent = analytics.max_drawdown(BARS)
    assert money == pytest.approx(30.0)
    assert percent == pytest.approx(25.0)


def test_max_drawdown_of_a_rising_series_is_zero() -> None:
    rising = [Bar("2026-03-02T10:00", 1.0, 2.0, 1.0, 2.0), Bar("2026-03-02T10:01", 2, 3, 2, 3)]
    assert analytics.max_drawdown(rising) == (0.0, 0.0)
    # a falling minute went up to its high before its low
    assert analytics.max_drawdown([Bar("2026-03-02T10:00", 1.5, 2.0, 1.0, 1.0)]) == (1.0, 50.0)


def test_drawdown_curve_per_day() -> None:
    curve = analytics.drawdown_curve(BARS)
    assert curve == [
        {
            "date": "2026-03-02",
            "close": 92.0,
            "peak": 120.0,
            "drawdown": 30.0,
            "drawdown_percent": 25.0,
        },
        {
            "date": "2026-03-03",
            "close": 100.0,
            "peak": 130.0,
            "drawdown": 30.0,
            "drawdown_percent": 24.1667,  # 91 is 29 / 120 down: deeper than 30 / 130
        },
    ]


def test_daily_calendar() -> None:
    assert analytics.daily(TRADES) == [
        {"date": "2026-03-02", "net_profit": 50.0, "trades": 2, "wins": 1},
        {"date": "2026-03-03", "net_profit": 30.0, "trades": 1, "wins": 1},
        {"date": "2026-03-05", "net_profit": -20.0, "trades": 2, "wins": 0},
    ]


def test_by_hour() -> None:
    hours = analytics.by_hour(TRADES)
    assert len(hours) == 24
    assert hours[9] == {"hour": 9, "net_profit": -20.0, "trades": 1}
    assert hours[10] == {"hour": 10, "net_profit": 130.0, "trades": 3}
    assert hours[14] == {"hour": 14, "net_profit": -50.0, "trades": 1}
    assert sum(h["trades"] for h in hours) == 5


def test_return_days_count_a_quiet_weekday_as_zero_and_skip_a_quiet_weekend() -> None:
    calendar = analytics.daily(TRADES)
    assert analytics.return_days(calendar) == [50.0, 30.0, 0.0, -20.0]  # Wednesday 4: 0
    weekend = [
        {"date": "2026-03-06", "net_profit": 10.0},  # Friday
        {"date": "2026-03-09", "net_profit": -5.0},  # Monday
    ]
    assert analytics.return_days(weekend) == [10.0, -5.0]


def test_daily_returns_compound_on_the_balance() -> None:
    returns = analytics.daily_returns([50.0, 30.0, 0.0, -20.0], 1000.0)
    assert returns == pytest.approx([0.05, 30 / 1050, 0.0, -20 / 1080])


def test_sharpe_and_sortino() -> None:
    returns = [0.01, -0.01, 0.02, 0.0]
    # mean 0.005; sample variance (25 + 225 + 225 + 25)e-6 / 3; sqrt(252) = 15.874508
    assert analytics.sharpe(returns) == pytest.approx(0.005 / math.sqrt(500e-6 / 3) * 15.874508)
    assert analytics.sharpe(returns) == pytest.approx(6.14817, abs=1e-5)
    # downside deviation sqrt(0.01^2 / 4) = 0.005, so mean / it = 1
    assert analytics.sortino(returns) == pytest.approx(15.874508, abs=1e-6)


def test_sharpe_needs_two_days_and_some_spread() -> None:
    assert analytics.sharpe([0.01]) is None
    assert analytics.sharpe([0.01, 0.01]) is None
    assert analytics.sortino([0.01, 0.02]) is None  # no losing day


def test_report_groups_by_symbol_and_strategy() -> None:
    balance = [Bar("2026-03-02T10:00", 1000.0, 1000.0, 1000.0, 1000.0)]
    body = analytics.report(TRADES, BARS, balance, 1000.0)
    stats = body["stats"]
    assert stats["net_profit"] == 60.0
    assert stats["max_drawdown_equity"] == 30.0
    assert stats["max_drawdown_equity_percent"] == 25.0
    assert stats["max_drawdown_balance"] == 0.0
    assert stats["start_balance"] == 1000.0
    expected = analytics.sharpe(analytics.daily_returns([50.0, 30.0, 0.0, -20.0], 1000.0))
    assert expected is not None
    assert stats["sharpe"] == round(expected, 4)
    assert sorted(body["by_symbol"]) == ["EURUSD", "XAUUSD"]
    assert body["by_symbol"]["EURUSD"]["net_profit"] == 50.0  # 100 - 50 + 0
    assert body["by_symbol"]["XAUUSD"]["net_profit"] == 10.0
    assert body["by_strategy"]["2"]["trades"] == 2
    assert len(body["daily"]) == 3
    assert len(body["drawdown_curve"]) == 2
