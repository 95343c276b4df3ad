"""Every read model in memory, evolved fact by fact and decision by decision, saved in batches.

`Views` holds what later events may change (status, risk, open positions, live
reconciliation items, the current equity minute) and remembers what changed since the last
`save`, which writes those rows and both tracked positions in the caller's transaction.
Events it cannot apply are counted (per account in the status view, else in `proj_meta`)
and logged, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final, assert_never

import msgspec

from bus.codec import DecodeError, decode_fact
from bus.schemas import (
    AccountSnapshot,
    AgentHeartbeat,
    AgentLifecycleChanged,
    OrderExecuted,
    OrderRejected,
    PositionClosed,
    PositionModified,
    PositionOpened,
    TickReceived,
)
from bus.schemas.base import from_msc
from bus.schemas.facts import Fact
from projections import risk as riskview
from projections import status as statusview
from projections.db import Database
from projections.equity_days import EquityDays
from projections.reconciliation import ReconBook, is_live
from projections.settings import AccountSettings
from projections.signals import DECISIONS as SIGNAL_DECISIONS
from projections.signals import EXPIRED, REJECTED, SignalBook
from projections.trades import TradeBook

log = logging.getLogger(__name__)

_json = msgspec.json.Encoder()
_dejson = msgspec.json.Decoder()
SOURCE_MT5: Final = "MT5"
SOURCE_RISK: Final = "RISK"


def dumps(doc: Any) -> str:
    return _json.encode(doc).decode()


def loads(text: str | bytes) -> Any:
    return _dejson.decode(text)


class Views:
    """The projector's state between saves; `mt5_seq`/`risk_seq`: last event applied."""

    def __init__(self, settings: Mapping[str, AccountSettings]) -> None:
        self.settings = dict(settings)
        self.mt5_seq = 0
        self.risk_seq = 0
        self.status: dict[str, dict[str, Any]] = {}
        self.risk: dict[str, dict[str, Any]] = {}
        self.open: dict[tuple[str, int], dict[str, Any]] = {}
        self.recon: dict[str, ReconBook] = {}
        self.bars: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, Any] = {
            "unapplied": 0,
            "unapplied_by_reason": {},
            "unknown_accounts": {},
        }
        self._dirty_status: set[str] = set()
        self._dirty_risk: set[str] = set()
        self._dirty_positions: dict[tuple[str, int], dict[str, Any]] = {}
        self._dirty_bars: dict[tuple[str, str], dict[str, Any]] = {}
        self._risk_rows: list[tuple[str, int, str, str, str]] = []
        self._dirty_meta = False
        self.applied = 0
        self.trades = TradeBook()
        self.equity_days = EquityDays()
        self.signals = SignalBook()

    # --- bookkeeping ----------------------------------------------------------------

    def _account(self, account_id: str) -> dict[str, Any]:
        status = self.status.get(account_id)
        if status is None:
            status = self.status[account_id] = statusview.new_status(account_id)
        self._dirty_status.add(account_id)
        return status

    def _book(self, account_id: str) -> ReconBook:
        book = self.recon.get(account_id)
        if book is None:
            book = self.recon[account_id] = ReconBook(self.settings[account_id])
        return book

    def unapplied(self, account_id: str | None, reason: str, where: str) -> None:
        """Count an event that could not be applied, on its account if known."""
        log.warning("projector: cannot apply %s: %s", where, reason)
        key = reason.split(":", 1)[0]
        if account_id is not None and account_id in self.settings:
            counts = self._account(account_id)["counts"]
            counts["unapplied"] += 1
            by = counts["unapplied_by_reason"]
            by[key] = by.get(key, 0) + 1
            return
        self.meta["unapplied"] += 1
        by = self.meta["unapplied_by_reason"]
        by[key] = by.get(key, 0) + 1
        if account_id is not None:
            unknown = self.meta["unknown_accounts"]
            unknown[account_id] = unknown.get(account_id, 0) + 1
        self._dirty_meta = True

    # --- facts ----------------------------------------------------------------------

    def apply_fact(self, seq: int, subject: str, data: bytes) -> None:
        """Apply the MT5 fact at stream sequence `seq`."""
        self.mt5_seq = max(self.mt5_seq, seq)
        self.applied += 1
        try:
            fact = decode_fact(subject, data)
        except DecodeError as exc:
            account = subject.split(".")[1] if subject.count(".") >= 2 else None
            self.unapplied(account, f"undecodable: {exc.reason}", f"MT5 #{seq} {subject}")
            return
        account_id = fact.account_id
        if account_id not in self.settings:
            self.unapplied(account_id, "unknown_account", f"MT5 #{seq} {subject}")
            return
        status = self._account(account_id)
        status["counts"]["facts"] += 1
        problem = self._dispatch(fact, status)
        if problem is not None:
            self.unapplied(account_id, problem, f"MT5 #{seq} {subject}")
        else:
            self.trades.apply(fact)

    def _dispatch(self, fact: Fact, status: dict[str, Any]) -> str | None:  # noqa: PLR0911
        s = self.settings[fact.account_id]
        match fact:
            case AccountSnapshot():
                return self._snapshot(fact, status)
            case AgentHeartbeat():
                statusview.apply_heartbeat(status, fact, s)
                self._agent(fact.account_id, status, fact.time.isoformat())
                return None
            case AgentLifecycleChanged():
                statusview.apply_lifecycle(status, fact)
                self._agent(fact.account_id, status, fact.time.isoformat())
                return None
            case PositionOpened():
                return self._opened(fact, status)
            case PositionModified():
                return self._modified(fact, status)
            case PositionClosed():
                return self._closed(fact, status)
            case OrderExecuted() | OrderRejected():
                kind = "executed" if isinstance(fact, OrderExecuted) else "rejected"
                status["orders"][kind] += 1
                status["orders"]["last"] = {
                    "type": kind,
                    "command_id": fact.command_id,
                    "time": fact.time.isoformat(),
                }
                self._signal_answered(fact)
                return None
            case TickReceived():
                return "unexpected_tick"
            case _:
                assert_never(fact)

    def _signal_answered(self, fact: OrderExecuted | OrderRejected) -> None:
        before = self.signals.for_command(fact.command_id)
        was = None if before is None else before["status"]
        row = self.signals.fact(fact)
        if row is not None and row["status"] == REJECTED and was != REJECTED:
            self._book(fact.account_id).outcome(row, fact.time.isoformat())

    def _agent(self, account_id: str, status: dict[str, Any], time: str) -> None:
        status["last_fact_time"] = time
        book = self._book(account_id)
        book.agent(statusview.agent_connected(status), time)
        book.clock(time)

    def _snapshot(self, fact: AccountSnapshot, status: dict[str, Any]) -> str | None:
        time = fact.time.isoformat()
        last = status.get("account")
        if last is not None and time < last["time"]:
            return f"out_of_order: snapshot at {time} before {last['time']}"
        statusview.apply_snapshot(status, fact)
        status["last_fact_time"] = time
        self._bar(fact.account_id, time, fact.equity, fact.balance)
        self._book(fact.account_id).clock(time)
        return None

    def _bar(self, account_id: str, time: str, equity: float, balance: float) -> None:
        minute = time[:16]
        bar = self.bars.get(account_id)
        if bar is None or bar["minute"] != minute:
            self.equity_days.fold(account_id, bar)  # the previous minute is final
            bar = {"minute": minute, "equity": [equity] * 4, "balance": [balance] * 4, "samples": 0}
            self.bars[account_id] = bar
        for key, value in (("equity", equity), ("balance", balance)):
            ohlc = bar[key]
            ohlc[1] = max(ohlc[1], value)
            ohlc[2] = min(ohlc[2], value)
            ohlc[3] = value
        bar["samples"] += 1
        self._dirty_bars[(account_id, minute)] = bar

    def _position_doc(self, fact: PositionOpened | PositionModified | PositionClosed) -> Any:
        return {
            "account_id": fact.account_id,
            "identifier": fact.identifier,
            "ticket": fact.ticket,
            "symbol": fact.symbol,
            "side": fact.side,
            "volume": fact.volume,
            "price_open": fact.price_open,
            "price_current": fact.price_current,
            "sl": fact.sl,
            "tp": fact.tp,
            "profit": fact.profit,
            "swap": fact.swap,
            "magic": fact.magic,
            "comment": fact.comment,
            "reason": fact.reason,
        }

    def _opened(self, fact: PositionOpened, status: dict[str, Any]) -> str | None:
        key = (fact.account_id, fact.identifier)
        if key in self.open:
            return f"duplicate_position: {fact.identifier} is already open"
        time = from_msc(fact.time_msc).isoformat()
        doc = self._position_doc(fact) | {
            "state": "open",
            "opened_at": time,
            "opened_msc": fact.time_msc,
            "closed": None,
        }
        self.open[key] = doc
        self._dirty_positions[key] = doc
        self._count_positions(fact.account_id, status)
        status["last_fact_time"] = time
        book = self._book(fact.account_id)
        book.opened(_recon_position(doc), time)
        self.signals.position_opened(fact)
        return None

    def _modified(self, fact: PositionModified, status: dict[str, Any]) -> str | None:
        key = (fact.account_id, fact.identifier)
        doc = self.open.get(key)
        if doc is None:
            return f"unknown_position: {fact.identifier} is not open"
        time = from_msc(fact.time_msc).isoformat()
        doc.update(self._position_doc(fact))
        doc["changed"] = list(fact.changed)
        self._dirty_positions[key] = doc
        self._count_positions(fact.account_id, status)
        self._book(fact.account_id).modified(_recon_position(doc), time)
        return None

    def _closed(self, fact: PositionClosed, status: dict[str, Any]) -> str | None:
        key = (fact.account_id, fact.identifier)
        doc = self.open.pop(key, None)
        if doc is None:
            return f"unknown_position: {fact.identifier} is not open"
        time = from_msc(fact.close_time_msc).isoformat()
        doc.update(self._position_doc(fact))
        doc.update(
            state="closed",
            closed={
                "time": time,
                "close_msc": fact.close_time_msc,
                "close_price": fact.close_price,
                "reason": fact.deal_reason,
                "deal_ticket": fact.deal_ticket,
                "realized": fact.profit,
                "commission": fact.commission,
                "fee": fact.fee,
                "swap": fact.swap,
            },
        )
        self._dirty_positions[key] = doc
        positions = status["positions"]
        positions["closed"] += 1
        positions["realized"] = round(positions["realized"] + fact.profit, 2)
        self._count_positions(fact.account_id, status)
        self._book(fact.account_id).closed(
            fact.identifier, fact.deal_reason, fact.close_price, time
        )
        return None

    def _count_positions(self, account_id: str, status: dict[str, Any]) -> None:
        mine = [d for (a, _), d in self.open.items() if a == account_id]
        status["positions"]["open"] = len(mine)
        status["positions"]["lots"] = round(sum(d["volume"] for d in mine), 4)

    # --- decisions ------------------------------------------------------------------

    def apply_decision(self, nid: int, subject: str, data: bytes | dict[str, Any]) -> None:
        """Apply the RISK event at notification id `nid` (`risk.events.<id>.<v>.<Type>`).

        `data` is the body, as bytes or already decoded (`decode_decision`).
        """
        self.risk_seq = max(self.risk_seq, nid)
        self.applied += 1
        kind = subject.rsplit(".", 1)[-1]
        try:
            decision = dict(data) if isinstance(data, dict) else loads(data)
            account_id = decision["account_id"]
            time = str(decision["timestamp"])
        except (msgspec.DecodeError, KeyError, TypeError) as exc:
            self.unapplied(None, f"undecodable_decision: {exc}", f"RISK #{nid} {subject}")
            return
        if account_id not in self.settings:
            self.unapplied(account_id, "unknown_account", f"RISK #{nid} {subject}")
            return
        status = self._account(account_id)
        status["counts"]["decisions"] += 1
        risk = self.risk.get(account_id)
        if risk is None:
            risk = self.risk[account_id] = riskview.new_risk(account_id)
        self._dirty_risk.add(account_id)
        decision.pop("timestamp", None)
        try:
            riskview.apply_decision(kind, decision, time, nid, risk, status)
            signal = self._signal_decision(kind, decision, time)
            if kind == "OrderApproved":
                self._book(account_id).intent(nid, time, decision["request"], signal=signal)
        except (KeyError, TypeError, ValueError) as exc:
            self.unapplied(account_id, f"bad_decision: {exc!r}", f"RISK #{nid} {subject}")
            return
        if kind in riskview.LOGGED:
            self._risk_rows.append((account_id, nid, kind, time, dumps(decision)))

    def _signal_decision(
        self, kind: str, decision: dict[str, Any], time: str
    ) -> dict[str, Any] | None:
        """Apply a decision to the signals view; the signal row it concerns, if any."""
        if kind not in SIGNAL_DECISIONS:
            return None
        before = self.signals.decision_row(kind, decision)
        was = None if before is None else before["status"]
        row = self.signals.decision(kind, decision, time)
        if row is not None and row["status"] in (REJECTED, EXPIRED) and was != row["status"]:
            self._book(row["account_id"]).outcome(row, time)
        return row

    # --- persistence --------------------------------------------------------------------

    def save(self, cur: Any) -> int:
        """Write what changed and both positions in the caller's transaction; rows written."""
        written = 0
        status_rows = [(a, dumps(self.status[a])) for a in sorted(self._dirty_status)]
        cur.executemany(_UPSERT_DOC.format(table="proj_status", key="account_id"), status_rows)
        risk_rows = [(a, dumps(self.risk[a])) for a in sorted(self._dirty_risk)]
        cur.executemany(_UPSERT_DOC.format(table="proj_risk", key="account_id"), risk_rows)
        cur.executemany(_INSERT_RISK_EVENT, self._risk_rows)
        positions = [
            (
                a,
                i,
                d["state"],
                d["symbol"],
                d["opened_msc"],
                (d["closed"] or {}).get("close_msc"),
                dumps(d),
            )
            for (a, i), d in self._dirty_positions.items()
        ]
        cur.executemany(_UPSERT_POSITION, positions)
        recon_rows, deleted = self._recon_rows()
        cur.executemany(_UPSERT_RECON, recon_rows)
        cur.executemany(
            "DELETE FROM proj_reconciliation WHERE account_id = ? AND item_id = ?", deleted
        )
        bars = [
            (a, m, *b["equity"], *b["balance"], b["samples"])
            for (a, m), b in self._dirty_bars.items()
        ]
        cur.executemany(_UPSERT_BAR, bars)
        if self._dirty_meta:
            cur.execute(
                _UPSERT_DOC.format(table="proj_meta", key="name"), ("projector", dumps(self.meta))
            )
        cur.executemany(
            _UPSERT_TRACKING, [(SOURCE_MT5, self.mt5_seq), (SOURCE_RISK, self.risk_seq)]
        )
        written = (
            len(status_rows)
            + len(risk_rows)
            + len(self._risk_rows)
            + len(positions)
            + len(recon_rows)
            + len(bars)
        )
        saved = self.trades.save(cur) + self.equity_days.save(cur) + self.signals.save(cur)
        return written + saved

    def changed_status(self) -> list[str]:
        """Accounts whose status changed since the last `clear`."""
        return sorted(self._dirty_status)

    def clear(self) -> None:
        """Forget what changed (after the transaction committed)."""
        self._dirty_status.clear()
        self._dirty_risk.clear()
        self._dirty_positions.clear()
        self._dirty_bars.clear()
        self._risk_rows.clear()
        self._dirty_meta = False
        self.trades.clear()
        self.equity_days.clear()
        self.signals.clear()
        for book in self.recon.values():
            book.dirty.clear()
            book.deleted.clear()
            for item_id in [i for i, d in book.items.items() if not is_live(d)]:
                doc = book.items.pop(item_id)  # over: its row is final
                if doc.get("position") is not None:
                    book.by_identifier.pop(doc["position"]["identifier"], None)

    def _recon_rows(self) -> tuple[list[Any], list[Any]]:
        rows: list[Any] = []
        deleted: list[Any] = []
        for account_id in sorted(self.recon):
            book = self.recon[account_id]
            for item_id in sorted(book.dirty):
                doc = book.items[item_id]
                rows.append(
                    (
                        account_id,
                        item_id,
                        doc["status"],
                        doc["since"],
                        1 if is_live(doc) else 0,
                        dumps(doc),
                    )
                )
            deleted.extend((account_id, i) for i in sorted(book.deleted))
        return rows, deleted

    def load(self, db: Database) -> None:
        """Take up where the last committed batch left off."""
        for source, position in db.query("SELECT source, position FROM proj_tracking"):
            if source == SOURCE_MT5:
                self.mt5_seq = int(position)
            elif source == SOURCE_RISK:
                self.risk_seq = int(position)
        for account_id, doc in db.query("SELECT account_id, doc FROM proj_status"):
            self.status[account_id] = loads(doc)
        for account_id, doc in db.query("SELECT account_id, doc FROM proj_risk"):
            self.risk[account_id] = loads(doc)
        for account_id, identifier, doc in db.query(
            "SELECT account_id, identifier, doc FROM proj_positions WHERE state = 'open'"
        ):
            self.open[(account_id, int(identifier))] = loads(doc)
        for account_id, doc in db.query(
            "SELECT account_id, doc FROM proj_reconciliation WHERE live = 1"
        ):
            if account_id in self.settings:
                self._book(account_id).load(loads(doc))
        for account_id, book in self.recon.items():
            status = self.status.get(account_id)
            if status is not None:
                book.connected = statusview.agent_connected(status)
        for row in db.query(_LAST_BARS):
            account_id, minute, *values, samples = row
            self.bars[account_id] = {
                "minute": minute,
                "equity": list(values[:4]),
                "balance": list(values[4:]),
                "samples": samples,
            }
        for (doc,) in db.query("SELECT doc FROM proj_meta WHERE name = 'projector'"):
            self.meta = loads(doc)
        self.trades.load(db)
        self.equity_days.load(db, self.bars)
        self.signals.load(db)


def decode_decision(data: bytes) -> dict[str, Any] | None:
    """A decision's body as plain data (None when it is not a JSON object)."""
    try:
        decoded = loads(data)
    except msgspec.DecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def decision_seq(decision: dict[str, Any] | None) -> int:
    """The MT5 sequence of the fact behind a decision (0: not known)."""
    if decision is None:
        return 0
    seq = decision.get("seq")
    return seq if isinstance(seq, int) else 0


def _recon_position(doc: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "identifier",
        "ticket",
        "symbol",
        "side",
        "volume",
        "price_open",
        "sl",
        "tp",
        "magic",
        "comment",
        "reason",
    )
    return {k: doc[k] for k in keys}


_UPSERT_DOC: Final = (
    "INSERT INTO {table} ({key}, doc) VALUES (?, ?) "
    "ON CONFLICT ({key}) DO UPDATE SET doc = excluded.doc"
)
_INSERT_RISK_EVENT: Final = (
    "INSERT INTO proj_risk_events (account_id, notification_id, kind, time, doc) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, notification_id) DO NOTHING"
)
_UPSERT_POSITION: Final = (
    "INSERT INTO proj_positions (account_id, identifier, state, symbol, opened_msc, closed_msc,"
    " doc) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, identifier) DO UPDATE SET"
    " state = excluded.state, symbol = excluded.symbol, closed_msc = excluded.closed_msc,"
    " doc = excluded.doc"
)
_UPSERT_RECON: Final = (
    "INSERT INTO proj_reconciliation (account_id, item_id, status, since, live, doc) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, item_id) DO UPDATE SET"
    " status = excluded.status, since = excluded.since, live = excluded.live, doc = excluded.doc"
)
_UPSERT_BAR: Final = (
    "INSERT INTO proj_equity (account_id, minute, equity_open, equity_high, equity_low,"
    " equity_close, balance_open, balance_high, balance_low, balance_close, samples)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, minute) DO UPDATE SET"
    " equity_high = excluded.equity_high, equity_low = excluded.equity_low,"
    " equity_close = excluded.equity_close, balance_high = excluded.balance_high,"
    " balance_low = excluded.balance_low, balance_close = excluded.balance_close,"
    " samples = excluded.samples"
)
_UPSERT_TRACKING: Final = (
    "INSERT INTO proj_tracking (source, position) VALUES (?, ?) "
    "ON CONFLICT (source) DO UPDATE SET position = excluded.position"
)
_LAST_BARS: Final = (
    "SELECT e.account_id, e.minute, e.equity_open, e.equity_high, e.equity_low,"
    " e.equity_close, e.balance_open, e.balance_high, e.balance_low, e.balance_close,"
    " e.samples FROM proj_equity e JOIN (SELECT account_id, MAX(minute) AS minute"
    " FROM proj_equity GROUP BY account_id) m"
    " ON e.account_id = m.account_id AND e.minute = m.minute"
)
