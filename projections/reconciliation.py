"""Reconciliation (docs/architecture.md §5): intended trades against the broker's positions,
per account, joined to the signals they came from.

An item is an intent (an `OrderApproved` decision), a broker position (by MT5 identifier),
a pair of both, or a signal that never became an order (rejected or expired). Its status is
a pure function of what it holds and the account's tolerances; every change of status is
kept in its history with the event time it began. An item of a signal carries its
`signal_id` and `approval_id`; a paired one its `mt5_position_id`; a divergent one a
`divergence_reason` (the reasons in words).

Pairing: a position and an intent of the same symbol (case-insensitive) and side pair when
the position's comment is the intent's `client_order_id` (an integrated strategy's link) or
`mtq-` and its first 8 hex digits (the comment the agent gives a signal's `PlaceOrder`),
else when the volume is within `volume_match_percent` and the entry within
`price_match_pips` (closest entry first, then the oldest intent); a signal's intent pairs by
its comment only. Manual positions (reason client, mobile, web) and positions with a magic
number not ours never pair.
"""

from __future__ import annotations

from typing import Any, Final

from projections.settings import AccountSettings

MATCHED: Final = "matched"
SLIPPED: Final = "slipped"
"""Paired, the entry, SL or TP beyond its tolerance."""
PARTIAL: Final = "partial"
"""Paired, the volume beyond its tolerance (a partial fill or close, or more lots)."""
REJECTED: Final = "rejected"
"""A signal rejected by its approver, the pre-trade check or the terminal."""
EXPIRED: Final = "expired"
"""A signal not approved (or not placed) before it expired."""
NOT_EXECUTED: Final = "not_executed"
"""An approved intent with no broker position after the fill window."""
MANUAL: Final = "manual"
"""A broker position no signal or approved order asked for."""
CLOSED_BY_BROKER: Final = "closed_by_broker"
"""An intent whose position the broker closed (SL, TP, stop-out)."""
PENDING: Final = "pending"
"""An approved intent within its fill window (not yet a divergence)."""
CLOSED: Final = "closed"
"""Over: closed by us or by hand."""
UNKNOWN: Final = "unknown"
"""The agent is disconnected or stale: the broker's side is not known."""
STATUSES: Final = (
    MATCHED,
    SLIPPED,
    PARTIAL,
    REJECTED,
    EXPIRED,
    NOT_EXECUTED,
    MANUAL,
    CLOSED_BY_BROKER,
    PENDING,
    CLOSED,
    UNKNOWN,
)
FINAL_STATUSES: Final = frozenset({CLOSED, CLOSED_BY_BROKER, REJECTED, EXPIRED})
MANUAL_REASONS: Final = frozenset({"client", "mobile", "web"})
BROKER_CLOSES: Final = frozenset({"sl", "tp", "so"})
MAX_HISTORY: Final = 50
_DIGITS: Final = 6  # pips and percents are compared rounded: 5.0 pips is 5.0, not 5.0000001


def pips(a: float, b: float, pip: float) -> float:
    return round(abs(a - b) / pip, _DIGITS)


def percent_off(value: float, reference: float) -> float:
    if reference == 0:
        return 0.0 if value == 0 else 100.0
    return round(abs(value - reference) / reference * 100, _DIGITS)


def _divergences(intent: dict[str, Any], pos: dict[str, Any], s: AccountSettings) -> list[Any]:
    tol = s.tolerances
    pip = s.pip(pos["symbol"])
    found: list[dict[str, Any]] = []
    slip = pips(pos["price_open"], intent["price"], pip)
    if slip > tol.slippage_pips:
        found.append(
            {
                "reason": "slippage",
                "pips": slip,
                "limit_pips": tol.slippage_pips,
                "intended": intent["price"],
                "broker": pos["price_open"],
            }
        )
    off = percent_off(pos["volume"], intent["volume"])
    if off > tol.volume_divergence_percent:
        found.append(
            {
                "reason": "volume",
                "percent": off,
                "limit_percent": tol.volume_divergence_percent,
                "intended": intent["volume"],
                "broker": pos["volume"],
            }
        )
    for name in ("sl", "tp"):
        want, have = intent[name], pos[name]
        if want == have:
            continue
        if not want or not have:  # one side has none: as far off as can be
            found.append(
                {
                    "reason": name,
                    "pips": None,
                    "limit_pips": tol.sltp_divergence_pips,
                    "intended": want,
                    "broker": have,
                }
            )
            continue
        off_pips = pips(have, want, pip)
        if off_pips > tol.sltp_divergence_pips:
            found.append(
                {
                    "reason": name,
                    "pips": off_pips,
                    "limit_pips": tol.sltp_divergence_pips,
                    "intended": want,
                    "broker": have,
                }
            )
    return found


def classify(item: dict[str, Any], s: AccountSettings) -> tuple[str, list[Any]]:  # noqa: PLR0911 - one return per status
    """The status and reasons of an item, ignoring whether the agent is connected."""
    intent, pos = item.get("intent"), item.get("position")
    outcome = item.get("outcome")
    if outcome is not None and pos is None:
        return outcome["status"], [
            {"reason": outcome["status"], "by": outcome["actor"], "detail": outcome["reason"]}
        ]
    if pos is not None and pos.get("closed") is not None:
        deal = pos["closed"]["deal_reason"]
        if intent is not None and deal in BROKER_CLOSES:
            return CLOSED_BY_BROKER, [{"reason": "closed_by_broker", "deal_reason": deal}]
        return CLOSED, [{"reason": "closed", "deal_reason": deal}]
    if intent is not None and pos is not None:
        found = _divergences(intent, pos, s)
        if not found:
            return MATCHED, []
        return (PARTIAL if any(r["reason"] == "volume" for r in found) else SLIPPED), found
    if pos is not None:
        if pos["reason"] in MANUAL_REASONS:
            return MANUAL, [{"reason": "manual", "position_reason": pos["reason"]}]
        if not s.is_ours(pos["magic"]):
            return MANUAL, [{"reason": "foreign_magic", "magic": pos["magic"]}]
        return MANUAL, [{"reason": "no_intent"}]
    assert intent is not None
    if item.get("expired_at") is not None:
        return NOT_EXECUTED, [{"reason": "never_filled", "window_s": s.tolerances.fill_window_s}]
    return PENDING, []


def describe(reasons: list[Any]) -> str | None:
    """The reasons in words (None when there is no divergence to tell)."""
    words = [w for w in (_words(r) for r in reasons) if w]
    return "; ".join(words) or None


def _words(r: dict[str, Any]) -> str:  # noqa: PLR0911 - one sentence per reason
    match r["reason"]:
        case "slippage":
            off = f"{r['pips']} pips from {r['intended']}"
            return f"entry {r['broker']} is {off} (limit {r['limit_pips']})"
        case "volume":
            off = f"{r['percent']}% from {r['intended']}"
            return f"volume {r['broker']} is {off} (limit {r['limit_percent']}%)"
        case "sl" | "tp" as name:
            off = "none on one side" if r["pips"] is None else f"{r['pips']} pips off"
            levels = f"{r['broker']} against {r['intended']}"
            return f"{name.upper()} {levels}: {off} (limit {r['limit_pips']})"
        case "never_filled":
            return f"no broker position within {r['window_s']} s"
        case "closed_by_broker":
            return f"closed by the broker ({r['deal_reason']})"
        case "manual":
            return f"opened by hand ({r['position_reason']})"
        case "foreign_magic":
            return f"magic {r['magic']} is not ours"
        case "no_intent":
            return "no signal or approved order asked for it"
        case "rejected" | "expired" as what:
            return f"{what} by {r['by']}: {r['detail']}" if r["detail"] else f"{what} by {r['by']}"
        case "agent_disconnected" | "agent_stale":
            return f"{r['reason'].replace('_', ' ')} (last known: {r['last_known']})"
        case _:
            return ""


def _pairable(pos: dict[str, Any], s: AccountSettings) -> bool:
    return (
        pos.get("closed") is None
        and pos["reason"] not in MANUAL_REASONS
        and s.is_ours(pos["magic"])
    )


def _linked(intent: dict[str, Any], pos: dict[str, Any]) -> bool:
    coid = intent.get("client_order_id") or ""
    comment = pos.get("comment", "").strip()
    return bool(coid) and comment in (coid, f"mtq-{coid[:8]}")


def _near(intent: dict[str, Any], pos: dict[str, Any], s: AccountSettings) -> float | None:
    """Entry distance in pips when the pair is within the matching tolerances, else None."""
    if intent["symbol"].upper() != pos["symbol"].upper() or intent["side"] != pos["side"]:
        return None
    tol = s.tolerances
    if percent_off(pos["volume"], intent["volume"]) > tol.volume_match_percent:
        return None
    distance = pips(pos["price_open"], intent["price"], s.pip(pos["symbol"]))
    return distance if distance <= tol.price_match_pips else None


class ReconBook:
    """One account's reconciliation items, with what changed since the last flush."""

    def __init__(self, settings: AccountSettings) -> None:
        self.settings = settings
        self.items: dict[str, dict[str, Any]] = {}
        self.by_identifier: dict[int, str] = {}
        self.connected = True
        self.dirty: set[str] = set()
        self.deleted: set[str] = set()

    def load(self, doc: dict[str, Any]) -> None:
        self.items[doc["item_id"]] = doc
        pos = doc.get("position")
        if pos is not None:
            self.by_identifier[pos["identifier"]] = doc["item_id"]
        if doc["status"] == UNKNOWN:
            self.connected = False

    # --- inputs ---------------------------------------------------------------------

    def intent(
        self,
        nid: int,
        time: str,
        request: dict[str, Any],
        signal: dict[str, Any] | None = None,
    ) -> str:
        """An approved order (of `signal`, if a signal's); pairs with a fitting position."""
        coid = str(request.get("client_order_id") or "")
        item_id = f"o:{coid}" if coid and f"o:{coid}" not in self.items else f"o:#{nid}"
        intent = {
            "client_order_id": coid,
            "notification_id": nid,
            "symbol": str(request["symbol"]),
            "side": str(request["side"]),
            "volume": float(request["volume"]),
            "price": float(request["price"]),
            "sl": float(request.get("sl") or 0),
            "tp": float(request.get("tp") or 0),
            "time": time,
        }
        item: dict[str, Any] = {
            "item_id": item_id,
            "intent": intent,
            "position": None,
            "status": "",
            "reasons": [],
            "since": time,
            "history": [],
        }
        if signal is not None:
            item["signal"] = _signal_link(signal)
        self.items[item_id] = item
        partner = self._position_for(intent, linked_only=signal is not None)
        if partner is not None:
            self._absorb(item, self.items[partner], time)
        self._settle(item, time)
        return item_id

    def outcome(self, signal: dict[str, Any], time: str) -> None:
        """A signal rejected or expired: its intent's item (or a new one) says so."""
        link = _signal_link(signal)
        outcome = {
            "status": signal["status"],
            "actor": signal["actor"] or "",
            "reason": signal["reason"],
        }
        item_id = f"o:{link['command_id']}"
        item = self.items.get(item_id)
        if item is None:
            item = {
                "item_id": item_id,
                "intent": None,
                "position": None,
                "signal": link,
                "status": "",
                "reasons": [],
                "since": time,
                "history": [],
            }
            self.items[item_id] = item
        elif item.get("position") is not None:
            return  # the broker has it: the position tells
        item["outcome"] = outcome
        self._settle(item, time)

    def opened(self, pos: dict[str, Any], time: str) -> bool:
        """A broker position appeared; False when its identifier is already known."""
        if pos["identifier"] in self.by_identifier:
            return False
        partner = self._intent_for(pos) if _pairable(pos, self.settings) else None
        if partner is not None:
            item = self.items[partner]
            item["position"] = dict(pos)
        else:
            item_id = f"p:{pos['identifier']}"
            item = {
                "item_id": item_id,
                "intent": None,
                "position": dict(pos),
                "status": "",
                "reasons": [],
                "since": time,
                "history": [],
            }
            self.items[item_id] = item
        self.by_identifier[pos["identifier"]] = item["item_id"]
        self._settle(item, time)
        return True

    def modified(self, pos: dict[str, Any], time: str) -> bool:
        """Volume, SL, TP or ticket changed; False for an unknown position."""
        item = self._for_identifier(pos["identifier"])
        if item is None:
            return False
        item["position"] = {**item["position"], **pos}
        self._settle(item, time, touched=True)
        return True

    def closed(self, identifier: int, deal_reason: str, close_price: float, time: str) -> bool:
        item = self._for_identifier(identifier)
        if item is None:
            return False
        item["position"] = {
            **item["position"],
            "closed": {"deal_reason": deal_reason, "close_price": close_price, "time": time},
        }
        self._settle(item, time)
        return True

    def agent(self, connected: bool, time: str) -> None:
        """The agent (dis)connected: live items become unknown, or are classified again."""
        if connected == self.connected:
            return
        self.connected = connected
        for item in list(self.items.values()):
            if _live(item):
                self._settle(item, time)

    def clock(self, time: str) -> None:
        """Fact time moved on with the agent connected: expire intents past their window."""
        if not self.connected:
            return
        window = self.settings.tolerances.fill_window_s
        for item in self.items.values():
            intent = item.get("intent")
            if (
                intent is None
                or item.get("position") is not None
                or item.get("expired_at") is not None
                or item.get("outcome") is not None
            ):
                continue
            if _seconds_between(intent["time"], time) > window:
                item["expired_at"] = time
                self._settle(item, time)

    # --- pairing ------------------------------------------------------------------------

    def _position_for(self, intent: dict[str, Any], *, linked_only: bool) -> str | None:
        best: tuple[float, str] | None = None
        for item_id, item in self.items.items():
            pos = item.get("position")
            if item.get("intent") is not None or pos is None or not _pairable(pos, self.settings):
                continue
            if _linked(intent, pos) and intent["symbol"].upper() == pos["symbol"].upper():
                return item_id
            distance = None if linked_only else _near(intent, pos, self.settings)
            if distance is not None and (best is None or distance < best[0]):
                best = (distance, item_id)
        return None if best is None else best[1]

    def _intent_for(self, pos: dict[str, Any]) -> str | None:
        best: tuple[float, int, str] | None = None
        for item_id, item in self.items.items():
            intent = item.get("intent")
            if intent is None or item.get("position") is not None or item.get("outcome"):
                continue  # a rejected or expired signal's item is over: it pairs no more
            if _linked(intent, pos) and intent["symbol"].upper() == pos["symbol"].upper():
                return item_id
            if item.get("signal") is not None:
                continue  # a signal's order pairs by its comment only
            distance = _near(intent, pos, self.settings)
            if distance is None:
                continue
            key = (distance, intent["notification_id"], item_id)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def _absorb(self, item: dict[str, Any], other: dict[str, Any], time: str) -> None:
        """Take `other`'s position into `item` (an intent arriving after its fill)."""
        item["position"] = other["position"]
        item["history"] = sorted([*other["history"], *item["history"]], key=lambda h: h["since"])[
            -MAX_HISTORY:
        ]
        item["paired_from"] = other["item_id"]
        del self.items[other["item_id"]]
        self.deleted.add(other["item_id"])
        self.dirty.discard(other["item_id"])
        self.by_identifier[item["position"]["identifier"]] = item["item_id"]
        del time

    def _for_identifier(self, identifier: int) -> dict[str, Any] | None:
        item_id = self.by_identifier.get(identifier)
        return None if item_id is None else self.items.get(item_id)

    # --- status ---------------------------------------------------------------------------

    def _settle(self, item: dict[str, Any], time: str, *, touched: bool = False) -> None:
        status, reasons = classify(item, self.settings)
        if not self.connected and not _final(status, reasons):
            reasons = [{"reason": "agent_disconnected", "last_known": status}]
            status = UNKNOWN
        if status != item["status"] or reasons != item["reasons"]:
            item["status"], item["reasons"], item["since"] = status, reasons, time
            item.update(_joined(item, reasons))
            entry = {"status": status, "reasons": reasons, "since": time}
            item["history"] = [*item["history"], entry][-MAX_HISTORY:]
            touched = True
        if touched:
            self.dirty.add(item["item_id"])
            self.deleted.discard(item["item_id"])


def _signal_link(signal: dict[str, Any]) -> dict[str, Any]:
    return {k: signal[k] for k in ("signal_id", "approval_id", "command_id")}


def _joined(item: dict[str, Any], reasons: list[Any]) -> dict[str, Any]:
    """The item's signal, position and divergence as top-level fields."""
    link = item.get("signal") or {}
    pos = item.get("position")
    return {
        "signal_id": link.get("signal_id"),
        "approval_id": link.get("approval_id"),
        "mt5_position_id": None if pos is None else pos["identifier"],
        "divergence_reason": describe(reasons),
    }


def _final(status: str, reasons: list[Any]) -> bool:
    """Over for good: closed (by us, by hand or by the broker), rejected or expired."""
    del reasons
    return status in FINAL_STATUSES


def _live(item: dict[str, Any]) -> bool:
    pos = item.get("position")
    return item["status"] not in FINAL_STATUSES and not (pos is not None and pos.get("closed"))


def is_live(doc: dict[str, Any]) -> bool:
    """Whether an item can still change (not over)."""
    return _live(doc)


def _seconds_between(earlier: str, later: str) -> float:
    from datetime import datetime  # noqa: PLC0415 - small, only for expiry

    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def overlay_stale(doc: dict[str, Any], stale: bool) -> dict[str, Any]:
    """As read: a live item of an agent whose facts are stale is `unknown` (never missing)."""
    if not stale or doc["status"] == UNKNOWN or _final(doc["status"], doc["reasons"]):
        return doc
    reasons = [{"reason": "agent_stale", "last_known": doc["status"]}]
    return {**doc, "status": UNKNOWN, "reasons": reasons, "divergence_reason": describe(reasons)}
