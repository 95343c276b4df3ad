"""What the projector needs of each account's config: pips, tolerances, health limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from config import AccountConfig, MtqConfig
from config.models import HEARTBEAT_TIMEOUT_S

DEFAULT_FILL_WINDOW_S: Final = 10.0
"""An approved order with no position after this long (agent connected) is never filled."""


@dataclass(frozen=True)
class Tolerances:
    """docs/architecture.md §5: matching and divergence limits (from `risk.reconciliation`)."""

    volume_match_percent: float = 5.0
    price_match_pips: float = 2.0
    slippage_pips: float = 5.0
    volume_divergence_percent: float = 10.0
    sltp_divergence_pips: float = 10.0
    fill_window_s: float = DEFAULT_FILL_WINDOW_S


@dataclass(frozen=True)
class AccountSettings:
    account_id: str
    pips: Mapping[str, float] = field(default_factory=dict)
    """Upper-cased symbol -> one pip in price units."""
    tolerances: Tolerances = Tolerances()
    our_magics: frozenset[int] = frozenset()
    """Magic numbers of our own strategies (empty: any magic counts as ours)."""
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S
    stale_feed_seconds: float = 30.0
    slow_terminal_ms: float = 500.0

    def pip(self, symbol: str) -> float:
        """One pip of `symbol`; unknown symbols: 0.01 for JPY quotes, else 0.0001."""
        found = self.pips.get(symbol.upper())
        if found is not None:
            return found
        return 0.01 if "JPY" in symbol.upper() else 0.0001

    def is_ours(self, magic: int) -> bool:
        return not self.our_magics or magic in self.our_magics


def account_settings(account: AccountConfig, heartbeat_timeout_s: float) -> AccountSettings:
    recon = account.risk.reconciliation
    magics: frozenset[int] = frozenset()
    if account.terminal.kind == "simulator":
        magics = frozenset({account.terminal.simulator.strategy.magic})
    return AccountSettings(
        account_id=account.id,
        pips={s.name.upper(): s.pip for s in account.symbols},
        tolerances=Tolerances(
            volume_match_percent=recon.volume_match_percent,
            price_match_pips=recon.price_match_pips,
            slippage_pips=recon.slippage_pips,
            volume_divergence_percent=recon.volume_divergence_percent,
            sltp_divergence_pips=recon.sltp_divergence_pips,
            fill_window_s=recon.fill_window_seconds,
        ),
        our_magics=magics,
        heartbeat_timeout_s=heartbeat_timeout_s,
        stale_feed_seconds=account.agent.stale_feed_seconds,
        slow_terminal_ms=account.agent.slow_terminal_ms,
    )


def settings_for(config: MtqConfig) -> dict[str, AccountSettings]:
    """Settings of every account in the config (disabled ones too: their log stays)."""
    timeout = config.supervisor.heartbeat_timeout_s
    return {a.id: account_settings(a, timeout) for a in config.accounts}
