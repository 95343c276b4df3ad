"""Opaque cursors for keyset pagination: the sort key of the last item, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


class BadCursor(ValueError):
    """The cursor was not made by this API."""


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, arity: int) -> list[Any] | None:
    """The key in `text` (None when no cursor); BadCursor when it is not one of ours."""
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor("not a cursor returned by this API") from None
    if not isinstance(key, list) or len(key) != arity:
        raise BadCursor("not a cursor returned by this API")
    if not all(isinstance(k, str | int | float) and not isinstance(k, bool) for k in key):
        raise BadCursor("not a cursor returned by this API")
    return key
