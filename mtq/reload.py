"""What SIGHUP does to `mtq up` (and `mtq reload`, which sends it): apply the edited config
without a restart, or refuse it and keep the running one.

In order: the files are validated (file:line errors on the console, nothing changes), new
accounts get their NATS identities (secured mode), the engine re-reads the config
(`mtq.risk.reload.admin`: LimitsChanged with the actor `admin`, refused with file:line
when it disagrees), the supervisor starts the agents of added accounts and stops those of
removed ones gracefully, and the API child is restarted on its socket so it reads its
tokens and webhooks again (requests in that moment wait on the socket's backlog).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from agents.supervisor.services import ServiceRunner, ServiceSpec
from bus import subjects
from bus.codec import encode
from bus.connection import connect, settings_from_env
from bus.schemas.news import ReloadReply, ReloadRequest
from bus.security.authdir import AuthDirError
from bus.security.identities import ADMIN
from config import ConfigError, MtqConfig, load_config
from engine.service import LINE_BREAK
from mtq.bootstrap import check_api_secrets
from mtq.http.auth import TokenFormatError
from mtq.system import Identities, Say, SupervisorPart

ENGINE_TIMEOUT_S = 30.0


class ReloadRefused(RuntimeError):
    """The new config cannot be applied; the message says why (one line or several)."""


@dataclass
class ConfigReload:
    config_path: Path
    nats_url: str
    identities: Identities
    supervisor: SupervisorPart
    api: ServiceRunner
    api_spec: Callable[[MtqConfig], ServiceSpec]
    say: Say
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _tasks: set[asyncio.Task[bool]] = field(default_factory=set, init=False)

    def requested(self) -> None:
        """The SIGHUP handler: reload in the background (one reload at a time)."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Apply the config file as it is now; False (and the running one kept) if refused."""
        async with self._lock:
            self.say(f"reload: reading {self.config_path}")
            try:
                config = await asyncio.to_thread(self._validated)
                engine = await self._ask_engine()
            except ReloadRefused as exc:
                for line in str(exc).splitlines():
                    self.say(f"reload: {line}")
                self.say("reload: config rejected; the running one is kept")
                return False
            started, stopped = await self.supervisor.reconfigure(config)
            self.api.spec = self.api_spec(config)
            await self.api.stop()
            await self.api.start()
            self.say(
                f"reload: done: limits changed on {', '.join(engine.changed) or 'none'}; "
                f"agents started {', '.join(started) or 'none'}, stopped "
                f"{', '.join(stopped) or 'none'}; API tokens and webhooks reloaded"
            )
            return True

    def _validated(self) -> MtqConfig:
        try:
            config = load_config([self.config_path])
            check_api_secrets(config)
        except ConfigError as exc:
            lines = exc.result.lines() if exc.result is not None else [str(exc)]
            raise ReloadRefused("\n".join(lines)) from None
        except TokenFormatError as exc:
            raise ReloadRefused(str(exc)) from None
        if self.identities.auth_dir is not None:
            try:
                self.identities.auth_dir.generate([a.id for a in config.accounts])
            except AuthDirError as exc:
                raise ReloadRefused(str(exc)) from None
        return config

    async def _ask_engine(self) -> ReloadReply:
        settings = settings_from_env(
            self.nats_url, name="mtq-up-reload", auth=self.identities.auth(ADMIN)
        )
        nc = await connect(settings)
        try:
            reply = await nc.request(
                subjects.risk_reload(ADMIN), encode(ReloadRequest()), timeout=ENGINE_TIMEOUT_S
            )
        except Exception as exc:  # noqa: BLE001 - no responder, timeout: one line
            raise ReloadRefused(f"the risk engine did not answer the reload: {exc!r}") from None
        finally:
            await nc.close()
        headers = reply.headers or {}
        if headers.get("Nats-Service-Error-Code"):
            message = headers.get("Nats-Service-Error", "the engine refused")
            raise ReloadRefused(message.replace(LINE_BREAK, "\n"))
        return msgspec.json.decode(reply.data, type=ReloadReply)
