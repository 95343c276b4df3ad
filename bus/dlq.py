"""Dead-letter routing: undecodable or unhandled messages go to `dlq.<subject>`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

from nats.js.client import JetStreamContext

from bus import subjects

log = logging.getLogger(__name__)

HDR_ERROR: Final = "Mtq-Error"
HDR_ERROR_KIND: Final = "Mtq-Error-Kind"
HDR_ORIGINAL_SUBJECT: Final = "Mtq-Original-Subject"
HDR_FAILED_AT: Final = "Mtq-Failed-At"
HDR_CONSUMER: Final = "Mtq-Consumer"
_MAX_HEADER = 1024


def _header_safe(text: str) -> str:
    return " ".join(text.split())[:_MAX_HEADER]


async def dead_letter(
    js: JetStreamContext,
    *,
    subject: str,
    data: bytes,
    error: str,
    kind: str = "decode",
    consumer: str = "",
    original_headers: dict[str, str] | None = None,
) -> None:
    """Store the message with the reason in the DLQ stream; never raises on bad input."""
    headers = {
        k: v for k, v in (original_headers or {}).items() if not k.startswith("Nats-Expected")
    }
    headers.pop("Nats-Msg-Id", None)
    headers.update(
        {
            HDR_ERROR: _header_safe(error),
            HDR_ERROR_KIND: kind,
            HDR_ORIGINAL_SUBJECT: subject,
            HDR_FAILED_AT: datetime.now(UTC).isoformat(),
        }
    )
    if consumer:
        headers[HDR_CONSUMER] = consumer
    log.warning("dead-lettering message on %s: %s", subject, error)
    await js.publish(subjects.dlq(subject), data, headers=headers)
