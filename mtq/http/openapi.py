"""The committed OpenAPI document (`mtq/http/openapi.json`): regenerate with
`python -m mtq.http.openapi` after changing an endpoint or a response model.

Every operation the rate limits count documents its 429 and `Retry-After`
(mtq/http/openapi_limits.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from mtq.http.app import create_app
from mtq.http.state import ApiSettings

COMMITTED: Final = Path(__file__).resolve().parent / "openapi.json"


def openapi_document() -> dict[str, Any]:
    """What `/openapi.json` serves (built without opening any database or connection)."""
    app = create_app(ApiSettings(db_url="sqlite:///:memory:"))
    try:
        return app.openapi()
    finally:
        app.state.api.store.close()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else COMMITTED
    target.write_text(render(openapi_document()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
