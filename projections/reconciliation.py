"""Reconciliation (docs/architecture.md §5): intended trades against the broker's positions,
per account.

An item is an intent (an `OrderApproved` decision), a broker position (by MT5 identifier),
or a pair of both. Its status is a pure function of what it holds and the account's
tolerances; every change of status is kept in its history with the event time it began.

Pairing: a position and an intent of the same symbol (case-insensitive) and side pair when
the position's comment is the intent's `client_order_id` (an integrated strategy's link),
else when the volume is within `volume_match_percent` and the entry within
`price_match_pips` (closest entry first, then the oldest intent). Manual positions (reason
client, mobile, web) and positions with a magic number not ours never pair.
"""

from __future__ import annotations

from typing import Any, Final

from projections.settings import AccountSettings

MATCHED: Final = "matched"
DIVERGENT: Final = "divergent"
UNMATCHED_BROKER: Final = "unmatched_broker"
MISSING_AT_BROKER: Final = "missing_at_broker"
PENDING: Final = "pending"
"""An approved intent within its fill window (not yet a divergence)."""
CLOSED: Final = "closed"
"""Over: closed by us or by hand (a broker close of an intent is missing_at_broker)."""
UNKNOWN: Final = "unknown"
"""The agent is disconnected or stale: the broker's side is not known."""
STATUSES: Final = (
    MATCHED,
    DIVERGENT,
    UNMATCHED_BROKER,
    MISSING_AT_BROKER,
    PENDING,
    CLOSED,
    UNKNOWN,
)
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
    if pos is not None and pos.get("closed") is not None:
        deal = pos["closed"]["deal_reason"]
        if intent is not None and deal in BROKER_CLOSES:
            return MISSING_AT_BROKER, [{"reason": "closed_by_broker", "deal_reason": deal}]
        return CLOSED, [{"reason": "closed", "deal_reason": deal}]
    if intent is not None and pos is not None:
        found = _divergences(intent, pos, s)
        return (DIVERGENT, found) if found else (MATCHED, [])
    if pos is not None:
        if pos["reason"] in MANUAL_REASONS:
            return UNMATCHED_BROKER, [{"reason": "manual", "position_reason": pos["reason"]}]
        if not s.is_ours(pos["magic"]):
            return UNMATCHED_BROKER, [{"reason": "foreign_magic", "magic": pos["magic"]}]
        return UNMATCHED_BROKER, [{"reason": "no_intent"}]
    assert intent is not None
    if item.get("expired_at") is not None:
        return MISSING_AT_BROKER, [
            {"reason": "never_filled", "window_s": s.tolerances.fill_window_s}
        ]
    return PENDING, []


def _pairable(pos: dict[str, Any], s: AccountSettings) -> bool:
    return (
        pos.get("closed") is None
        and pos["reason"] not in MANUAL_REASONS
        and s.is_ours(pos["magic"])
    )


def _linked(intent: dict[str, Any], pos: dict[str, Any]) -> bool:
    coid = intent.get("client_order_id") or ""
    return bool(coid) and pos.get("comment", "").strip() == coid


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

    def intent(self, nid: int, time: str, request: dict[str, Any]) -> str:
        """An approved order; pairs with an unpaired broker position if one fits."""
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
        self.items[item_id] = item
        partner = self._position_for(intent)
        if partner is not None:
            self._absorb(item, self.items[partner], time)
        self._settle(item, time)
        return item_id

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
            ):
                continue
            if _seconds_between(intent["time"], time) > window:
                item["expired_at"] = time
                self._settle(item, time)

    # --- pairing ------------------------------------------------------------------------

    def _position_for(self, intent: dict[str, Any]) -> str | None:
        best: tuple[float, str] | None = None
        for item_id, item in self.items.items():
            pos = item.get("position")
            if item.get("intent") is not None or pos is None or not _pairable(pos, self.settings):
                continue
            if _linked(intent, pos) and intent["symbol"].upper() == pos["symbol"].upper():
                return item_id
            distance = _near(intent, pos, self.settings)
            if distance is not None and (best is None or distance < best[0]):
                best = (distance, item_id)
        return None if best is None else best[1]

    def _intent_for(self, pos: dict[str, Any]) -> str | None:
        best: tuple[float, int, str] | None = None
        for item_id, item in self.items.items():
            intent = item.get("intent")
            if intent is None or item.get("position") is not None:
                continue
            if _linked(intent, pos) and intent["symbol"].upper() == pos["symbol"].upper():
                return item_id
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
            entry = {"status": status, "reasons": reasons, "since": time}
            item["history"] = [*item["history"], entry][-MAX_HISTORY:]
            touched = True
        if touched:
            self.dirty.add(item["item_id"])
            self.deleted.discard(item["item_id"])


def _final(status: str, reasons: list[Any]) -> bool:
    """Over for good: closed, or an intent whose position the broker closed."""
    if status == CLOSED:
        return True
    return status == MISSING_AT_BROKER and reasons[0]["reason"] == "closed_by_broker"


def _live(item: dict[str, Any]) -> bool:
    pos = item.get("position")
    return item["status"] != CLOSED and not (pos is not None and pos.get("closed"))


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
    return {
        **doc,
        "status": UNKNOWN,
        "reasons": [{"reason": "agent_stale", "last_known": doc["status"]}],
    }
