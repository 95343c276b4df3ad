"""The `mtq-agents` NATS micro service: start, stop, restart, list and validate agents."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service, ServiceConfig

from agents.supervisor.errors import UnknownAccount
from bus import subjects

if TYPE_CHECKING:
    from agents.supervisor.supervisor import Supervisor

log = logging.getLogger(__name__)

SERVICE_VERSION: Final = "1.0.0"
ENDPOINTS: Final = ("start", "stop", "restart", "list", "validate")


class RequestError(Exception):
    """A request the service refuses: `code` is HTTP-like (400, 404)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_account(data: bytes) -> str | None:
    """Read the optional account from a request body: empty or `{}` mean all accounts."""
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"request body is not JSON: {exc.msg} at {exc.pos}") from None
    if not isinstance(body, dict):
        raise RequestError(400, 'request body must be a JSON object like {"account": "ID"}')
    unknown = sorted(set(body) - {"account"})
    if unknown:
        raise RequestError(400, f"unknown request field(s): {', '.join(unknown)}")
    account = body.get("account")
    if account is None:
        return None
    if not isinstance(account, str) or not subjects.is_token(account):
        raise RequestError(400, f"account must be an account id ({subjects.TOKEN_RULE})")
    return account


Operation = Callable[[str | None], Awaitable[Any]]


def _handler(supervisor: Supervisor, name: str) -> Callable[[Request], Awaitable[None]]:
    operations: dict[str, Operation] = {
        "start": lambda a: _wrap_list(supervisor.start_agents(a)),
        "stop": lambda a: _wrap_list(supervisor.stop_agents(a)),
        "restart": lambda a: _wrap_list(supervisor.restart_agents(a)),
        "list": lambda a: _now(
            {
                "accounts": supervisor.list_agents(a),
                "bus": supervisor.bus_status(),
                "services": supervisor.list_services(),
            }
        ),
        "validate": lambda a: _now(supervisor.validate(a)),
    }
    operation = operations[name]

    async def handle(request: Request) -> None:
        try:
            account = parse_account(request.data)
            if account is not None:
                supervisor.runner(account)  # 404 before doing anything
            result = await operation(account)
        except RequestError as exc:
            await _respond_error(request, exc.code, exc.message)
            return
        except UnknownAccount as exc:
            await _respond_error(request, 404, str(exc))
            return
        except Exception as exc:
            log.exception("%s failed", subjects.agents_endpoint(name))
            await _respond_error(request, 500, f"{type(exc).__name__}: {exc}")
            return
        await request.respond(json.dumps(result).encode())

    return handle


async def _wrap_list(pending: Awaitable[list[dict[str, Any]]]) -> dict[str, Any]:
    return {"accounts": await pending}


async def _now(value: Any) -> Any:
    return value


async def _respond_error(request: Request, code: int, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await request.respond_error(str(code), message, data=body)


async def add_agents_service(nc: Client, supervisor: Supervisor) -> Service:
    """Register `mtq-agents` with endpoints `mtq.agents.<name>` on `nc`."""
    service = await add_service(
        nc,
        ServiceConfig(
            name=subjects.SERVICE_AGENTS,
            version=SERVICE_VERSION,
            description="mtq agent supervisor: start, stop, restart, list, validate agents",
        ),
    )
    group = service.add_group(name=subjects.AGENTS_PREFIX)
    for name in ENDPOINTS:
        await group.add_endpoint(name=name, handler=_handler(supervisor, name))
    return service
