"""The risk domain's exceptions: a small tree under `RiskError`."""

from __future__ import annotations


class RiskError(Exception):
    """A fact or a command the risk domain refuses; the aggregate is left unchanged."""


class InvalidFact(RiskError):
    """A value that cannot be true: NaN, infinity, negative, or absurdly far from the rest."""


class FactOutOfOrder(RiskError):
    """An account snapshot older than the last one the account's decisions were based on."""


class DuplicatePosition(RiskError):
    """An open of a position identifier that is already tracked."""


class UnknownPosition(RiskError):
    """A modify or close of a position identifier that is not tracked."""


class InvalidControl(RiskError):
    """An operator control that the current trading state does not allow."""


class LimitsUnchanged(RiskError):
    """`change_limits` with the rules already in force."""
