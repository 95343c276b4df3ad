"""The broker server's clock: an IANA zone plus a shift, as MT5 servers keep their time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


class ServerTime:
    """Converts true UTC to the server's wall time, in milliseconds since the epoch.

    MT5 stamps ticks, positions and deals with the server's wall time written as if it were
    UTC: a tick at 10:00 UTC on a UTC+3 server has `time_msc` of 13:00 "UTC". Offsets change
    only on whole hours, so one is computed per UTC hour.
    """

    def __init__(self, zone: str = "UTC", shift_h: float = 0.0) -> None:
        self.zone = ZoneInfo(zone)
        self.shift_ms = int(shift_h * HOUR_MS)
        self._hour = -1
        self._offset = 0

    def offset_ms(self, utc_msc: int) -> int:
        """The server's offset from UTC at `utc_msc`."""
        hour = utc_msc // HOUR_MS
        if hour != self._hour:
            moment = datetime.fromtimestamp(hour * HOUR_MS / 1000, UTC).astimezone(self.zone)
            delta = moment.utcoffset()
            self._offset = (int(delta.total_seconds() * 1000) if delta else 0) + self.shift_ms
            self._hour = hour
        return self._offset

    def to_server(self, utc_msc: int) -> int:
        return utc_msc + self.offset_ms(utc_msc)
