"""The dashboard: static pages and scripts from this package, plotly.js from plotly's wheel.

No build step and no CDN: everything is served by the app, so it works offline. The pages
hold no data; they read the JSON endpoints (with the bearer token when reads need one).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse

STATIC: Final = Path(__file__).parent / "static"
ASSETS: Final = {
    "app.js": "text/javascript",
    "analytics.js": "text/javascript",
    "candles.js": "text/javascript",
    "signals.js": "text/javascript",
    "style.css": "text/css",
}
router = APIRouter(include_in_schema=False)


@cache
def plotly_js() -> Path:
    """plotly.min.js as the installed plotly wheel ships it."""
    import plotly  # noqa: PLC0415 - only to find its bundled file

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall plotly")
    return path


@cache
def _page(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@router.get("/")
async def index() -> HTMLResponse:
    return HTMLResponse(_page("index.html"))


@router.get("/ui/accounts/{account_id}")
async def account_page(
    account_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
) -> HTMLResponse:
    return HTMLResponse(_page("account.html"))


@router.get("/ui/accounts/{account_id}/analytics")
async def analytics_page(
    account_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
) -> HTMLResponse:
    return HTMLResponse(_page("analytics.html"))


@router.get("/ui/signals")
async def signals_page() -> HTMLResponse:
    return HTMLResponse(_page("signals.html"))


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    if name == "plotly.min.js":
        return FileResponse(
            plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )
    kind = ASSETS.get(name)
    if kind is None:
        raise HTTPException(404, f"no asset {name!r}")
    return FileResponse(STATIC / name, media_type=kind, headers={"Cache-Control": "no-cache"})
