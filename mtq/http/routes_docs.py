"""`/docs`: Swagger UI served from the `swagger-ui-bundle` wheel, so it works offline.

FastAPI's own `/docs` loads Swagger UI from a CDN and is blank without internet; this one
serves the same page with every asset from the installed wheel (as the dashboard serves
plotly's). ReDoc is not offered: it has no offline bundle.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS_PREFIX: Final = "/docs/assets"
ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
router = APIRouter(include_in_schema=False)


@cache
def swagger_dir() -> Path:
    """The Swagger UI files of the installed `swagger-ui-bundle` wheel."""
    import swagger_ui_bundle  # noqa: PLC0415 - only to find its bundled files

    path = Path(swagger_ui_bundle.swagger_ui_path)
    if not (path / "swagger-ui-bundle.js").is_file():
        raise FileNotFoundError(f"{path} has no swagger-ui-bundle.js: reinstall swagger-ui-bundle")
    return path


@router.get("/docs")
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="mtq API",
        swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PREFIX}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(ASSETS_PREFIX + "/{name}")
async def asset(name: str) -> FileResponse:
    kind = ASSETS.get(name)
    if kind is None:
        raise HTTPException(404, f"no docs asset {name!r}")
    return FileResponse(
        swagger_dir() / name, media_type=kind, headers={"Cache-Control": "max-age=86400"}
    )
