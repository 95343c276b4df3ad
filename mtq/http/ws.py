"""`GET /ws/events?account=…`: the live events of `/events/stream` over a WebSocket.

The same hub feeds both (`mtq.http.live`): each message is one JSON text frame
`{"event": "status"|"decision"|"alert", "data": {...}}`, the `data` being exactly what the
server-sent event carries. The same auth as the SSE stream: open on loopback, else a bearer
token in the `Authorization` header (a refused handshake answers 403). A client that falls
behind by a whole queue is dropped (close code 1013, try again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Annotated, Final

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect, status

from mtq.http.auth import Tokens
from mtq.http.live import Subscriber
from mtq.http.state import ApiState

router = APIRouter()
ACCOUNT_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def allowed(tokens: Tokens, websocket: WebSocket) -> bool:
    """Reads are open on loopback; else the `Authorization: Bearer` token must be known."""
    if not tokens.reads_need_token:
        return True
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and tokens.name_of(token.strip()) is not None


@router.websocket("/ws/events")
async def events_socket(
    websocket: WebSocket,
    account: Annotated[list[str] | None, Query(description="only these accounts")] = None,
) -> None:
    accounts = account or []
    if not allowed(websocket.app.state.tokens, websocket) or not all(
        ACCOUNT_PATTERN.match(a) for a in accounts
    ):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    api: ApiState = websocket.app.state.api
    sub = api.hub.subscribe(accounts)
    try:
        await websocket.accept()
        await _pump(websocket, sub)
    finally:
        api.hub.unsubscribe(sub)


async def _pump(websocket: WebSocket, sub: Subscriber) -> None:
    """Send the subscriber's events until the hub ends it or the client goes away."""
    gone = asyncio.create_task(_until_closed(websocket))
    try:
        while True:
            next_item = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({next_item, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                next_item.cancel()
                return
            item = next_item.result()
            if item is None:
                await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER)
                return
            event, data = item
            await websocket.send_text(f'{{"event":"{event}","data":{data}}}')
    except WebSocketDisconnect:
        return
    finally:
        gone.cancel()
        with contextlib.suppress(BaseException):
            await gone


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and drop) what the client sends until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
