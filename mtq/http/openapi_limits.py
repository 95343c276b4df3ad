"""The 429s of the OpenAPI document: every operation the rate limits count
(mtq/http/ratelimit.py: all but `/health`, the static files and the docs' assets)
documents its 429 and the `Retry-After` header."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI

from mtq.http.ratelimit import UNCOUNTED, UNCOUNTED_PATHS

_METHODS: Final = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
TOO_MANY: Final[dict[str, Any]] = {
    "description": "Too many requests: the caller (its token, else its address) is over "
    "its rate limit (`api.rate_limits`: reads, or control for every other method); retry "
    "after `Retry-After` seconds",
    "headers": {
        "Retry-After": {
            "description": "seconds until a request of this caller is admitted again",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def rate_limited(path: str) -> bool:
    return path not in UNCOUNTED_PATHS and not path.startswith(UNCOUNTED)


def with_rate_limits(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with a 429 on every rate-limited operation (ErrorBody always defined)."""
    for path, operations in document.get("paths", {}).items():
        if not rate_limited(path):
            continue
        for method, operation in operations.items():
            if method in _METHODS:
                operation.setdefault("responses", {})["429"] = TOO_MANY
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorBody" not in schemas:
        from mtq.http.models import ErrorBody  # noqa: PLC0415 - only when no route uses it

        schemas["ErrorBody"] = ErrorBody.model_json_schema()
    return document


def document_rate_limits(app: FastAPI) -> None:
    """Make `app.openapi()` (what `/openapi.json` serves) document the 429s."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_rate_limits(plain())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
