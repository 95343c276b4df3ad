"""The HTML report of `mtq report --html`: statistics and plotly charts in one file.

Plotly's JavaScript is bundled inline (no CDN): the file opens offline.
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

GREEN = "#2e9e5b"
RED = "#d64545"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

RATIOS = frozenset(
    {
        "win_rate",
        "profit_factor",
        "average_r",
        "average_duration_s",
        "max_drawdown_equity_percent",
        "max_drawdown_balance_percent",
        "sharpe",
        "sortino",
    }
)


def shown(value: Any, key: str = "") -> str:
    """Money with cents, ratios with four decimals (as the report rounds them), counts as is."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if key in RATIOS else f"{value:,.2f}"
    return str(value)


STAT_ROWS: tuple[tuple[str, str], ...] = (
    ("trades", "trades"),
    ("wins / losses / breakeven", ""),
    ("net P/L", "net_profit"),
    ("gross profit", "gross_profit"),
    ("gross loss", "gross_loss"),
    ("commission / swap / fee", ""),
    ("win rate", "win_rate"),
    ("profit factor", "profit_factor"),
    ("expectancy", "expectancy"),
    ("average win", "average_win"),
    ("average loss", "average_loss"),
    ("largest win", "largest_win"),
    ("largest loss", "largest_loss"),
    ("longest win streak", "longest_win_streak"),
    ("longest loss streak", "longest_loss_streak"),
    ("average R", "average_r"),
    ("average duration (s)", "average_duration_s"),
    ("max drawdown, equity", "max_drawdown_equity"),
    ("max drawdown, equity %", "max_drawdown_equity_percent"),
    ("max drawdown, balance", "max_drawdown_balance"),
    ("max drawdown, balance %", "max_drawdown_balance_percent"),
    ("Sharpe (daily, annualized)", "sharpe"),
    ("Sortino (daily, annualized)", "sortino"),
    ("start balance", "start_balance"),
)


def stat_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, shown value) of each statistic, in the order the table and the HTML show."""
    rows = []
    for label, key in STAT_ROWS:
        if label.startswith("wins"):
            value = f"{stats['wins']} / {stats['losses']} / {stats['breakeven']}"
        elif label.startswith("commission"):
            value = " / ".join(shown(stats[k]) for k in ("commission", "swap", "fee"))
        else:
            value = shown(stats.get(key), key)
        rows.append((label, value))
    return rows


def equity_figure(curve: list[dict[str, Any]]) -> go.Figure:
    """Daily closing equity and its running peak, and below it the day's deepest drawdown."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35])
    days = [d["date"] for d in curve]
    fig.add_trace(go.Scatter(x=days, y=[d["close"] for d in curve], name="equity"), 1, 1)
    fig.add_trace(
        go.Scatter(x=days, y=[d["peak"] for d in curve], name="peak", line={"dash": "dot"}), 1, 1
    )
    fig.add_trace(
        go.Scatter(
            x=days,
            y=[-d["drawdown_percent"] for d in curve],
            name="drawdown %",
            fill="tozeroy",
            line={"color": RED},
        ),
        2,
        1,
    )
    fig.update_layout(title="Equity and drawdown", height=480, margin={"t": 50, "b": 30})
    return fig


def calendar_figure(daily: list[dict[str, Any]]) -> go.Figure:
    """The daily P/L calendar: one column per week (its Monday), one row per weekday."""
    by_day = {d["date"]: d for d in daily}
    weeks: list[str] = []
    z: list[list[float | None]] = [[] for _ in WEEKDAYS]
    text: list[list[str]] = [[] for _ in WEEKDAYS]
    if daily:
        first = date.fromisoformat(daily[0]["date"])
        monday = first - timedelta(days=first.weekday())
        last = date.fromisoformat(daily[-1]["date"])
        while monday <= last:
            weeks.append(monday.isoformat())
            for i in range(7):
                found = by_day.get((monday + timedelta(days=i)).isoformat())
                z[i].append(None if found is None else found["net_profit"])
                text[i].append(
                    "" if found is None else f"{found['net_profit']:,.2f} ({found['trades']})"
                )
            monday += timedelta(days=7)
    fig = go.Figure(
        go.Heatmap(
            x=weeks,
            y=list(WEEKDAYS),
            z=z,
            text=text,
            texttemplate="%{text}",
            colorscale=[[0.0, RED], [0.5, "#f4f4f4"], [1.0, GREEN]],
            zmid=0,
            xgap=3,
            ygap=3,
            hovertemplate="week of %{x}, %{y}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(title="Daily P/L", height=360, yaxis={"autorange": "reversed"})
    return fig


def hours_figure(by_hour: list[dict[str, Any]]) -> go.Figure:
    """Net P/L by UTC hour of close."""
    values = [h["net_profit"] for h in by_hour]
    fig = go.Figure(
        go.Bar(
            x=[h["hour"] for h in by_hour],
            y=values,
            marker_color=[GREEN if v >= 0 else RED for v in values],
            customdata=[h["trades"] for h in by_hour],
            hovertemplate="%{x}:00 UTC: %{y:,.2f} (%{customdata} trades)<extra></extra>",
        )
    )
    fig.update_layout(title="P/L by hour of close (UTC)", height=320, xaxis={"dtick": 1})
    return fig


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _groups(title: str, groups: dict[str, dict[str, Any]]) -> str:
    rows = [
        [
            name,
            str(s["trades"]),
            shown(s["win_rate"], "win_rate"),
            shown(s["net_profit"]),
            shown(s["profit_factor"], "profit_factor"),
        ]
        for name, s in groups.items()
    ]
    return f"<h2>By {title}</h2>" + _table(
        [title, "trades", "win rate", "net P/L", "profit factor"], rows
    )


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}"
)


def report_html(report: dict[str, Any]) -> str:
    """One self-contained page: statistics, the charts, and the tables by symbol and strategy."""
    account = html.escape(str(report["account_id"]))
    span = html.escape(f"{report.get('from') or 'start'} to {report.get('to') or 'now'}")
    figures = [
        equity_figure(report["drawdown_curve"]),
        calendar_figure(report["daily"]),
        hours_figure(report["by_hour"]),
    ]
    charts = [
        pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}")
        for i, fig in enumerate(figures)
    ]
    stats = _table(["statistic", "value"], [list(r) for r in stat_rows(report["stats"])])
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>mtq report {account}</title><style>{STYLE}</style></head><body>",
        f"<h1>{account}</h1><p>{span}</p>",
        f"<h2>Statistics</h2>{stats}",
        *charts,
        _groups("symbol", report["by_symbol"]),
        _groups("strategy", report["by_strategy"]),
        "</body></html>",
    ]
    return "\n".join(parts)
