"""The HTTP API, live dashboard and alerts (FastAPI); see `mtq/http/README.md`."""

from mtq.http.app import create_app
from mtq.http.state import ApiSettings

__all__ = ["ApiSettings", "create_app"]
