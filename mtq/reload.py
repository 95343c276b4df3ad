"""What SIGHUP does to `mtq up` (and `mtq reload`, which sends it): apply the edited config
without a restart, or refuse it and keep the running one.

The children (engine, projector, API, agents) read the config *in force*, a copy `mtq up`
keeps in `DATA/run/config/` (with the news calendar file it names), never the file being
edited: a child restarted by a crash reads what was accepted, not a half-edited file. A
reload replaces that copy only once the edited file is valid. Each reload's outcome is
written to `DATA/run/reload.json` (`mtq reload` waits for it and prints it).

In order: the files are validated (file:line errors on the console, nothing changes), new
accounts get their NATS identities (secured mode), the engine re-reads the config
(`mtq.risk.reload.admin`: LimitsChanged with the actor `admin`, refused with file:line
when it disagrees), the supervisor starts the agents of added accounts and stops those of
removed ones gracefully, and the API child is restarted on its socket so it reads its
tokens and webhooks again (requests in that moment wait on the socket's backlog).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from agents.supervisor.services import ServiceRunner, ServiceSpec
from bus import subjects
from bus.codec import encode
from bus.connection import connect, settings_from_env
from bus.datadir import write_atomic
from bus.schemas.news import ReloadReply, ReloadRequest
from bus.security.authdir import AuthDirError
from bus.security.identities import ADMIN
from config import ConfigError, MtqConfig, load_config
from config.calendar import calendar_path, config_calendar
from engine.service import LINE_BREAK
from mtq.bootstrap import check_api_secrets
from mtq.http.auth import TokenFormatError
from mtq.system import Identities, Say, SupervisorPart

ENGINE_TIMEOUT_S = 30.0


RESULT_FILE = "reload.json"


class ReloadRefused(RuntimeError):
    """The new config cannot be applied; the message says why (one line or several)."""


def staged_dir(data: Path) -> Path:
    return data / "run" / "config"


def stage_config(config_path: Path, config: MtqConfig, data: Path) -> Path:
    """Copy the accepted config (and its news calendar, at the same relative place) into
    `DATA/run/config/`; the copy's path, which the children are given."""
    directory = staged_dir(data)
    directory.mkdir(parents=True, exist_ok=True)
    calendar = config.news.calendar
    if calendar is not None and not Path(calendar).is_absolute():
        source = calendar_path(config)
        target = (directory / calendar).resolve()
        if source is not None and target.is_relative_to(directory.resolve()):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        else:
            raise ReloadRefused(f"news.calendar {calendar!r} must stay under the config's dir")
    staged = directory / config_path.name
    write_atomic(staged, config_path.read_text(encoding="utf-8"))
    return staged


def read_result(data: Path) -> dict[str, object] | None:
    try:
        found: dict[str, object] = json.loads((data / "run" / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found


@dataclass
class ConfigReload:
    config_path: Path
    data: Path
    nats_url: str
    identities: Identities
    supervisor: SupervisorPart
    api: ServiceRunner
    api_spec: Callable[[MtqConfig], ServiceSpec]
    say: Say
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _tasks: set[asyncio.Task[bool]] = field(default_factory=set, init=False)
    _count: int = field(default=0, init=False)

    def requested(self) -> None:
        """The SIGHUP handler: reload in the background (one reload at a time)."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Apply the config file as it is now; False (and the running one kept) if refused."""
        async with self._lock:
            self._count += 1
            self.say(f"reload: reading {self.config_path}")
            try:
                if self.api.state != "RUNNING":
                    raise ReloadRefused("mtq up is still starting (or stopping); try again")
                config = await asyncio.to_thread(self._validated)
                staged = staged_dir(self.data) / self.config_path.name
                previous = staged.read_text(encoding="utf-8") if staged.exists() else None
                await asyncio.to_thread(stage_config, self.config_path, config, self.data)
                try:
                    engine = await self._ask_engine()
                except ReloadRefused:
                    if previous is not None:  # the engine has not taken it: nor will a restart
                        write_atomic(staged, previous)
                    raise
            except ReloadRefused as exc:
                lines = [*str(exc).splitlines(), "config rejected; the running one is kept"]
                for line in lines:
                    self.say(f"reload: {line}")
                self._write_result(ok=False, lines=lines)
                return False
            started, stopped = await self.supervisor.reconfigure(config)
            self.api.spec = self.api_spec(config)
            await self.api.stop()
            await self.api.start()
            lines = [
                f"limits changed on {', '.join(engine.changed) or 'none'}",
                f"agents started: {', '.join(started) or 'none'}; stopped: "
                f"{', '.join(stopped) or 'none'}",
                "API tokens and webhooks reloaded",
            ]
            self.say(f"reload: done: {'; '.join(lines)}")
            self._write_result(ok=True, lines=lines)
            return True

    def _write_result(self, *, ok: bool, lines: list[str]) -> None:
        result = {
            "count": self._count,
            "at": datetime.now(UTC).isoformat(),
            "ok": ok,
            "lines": lines,
        }
        write_atomic(self.data / "run" / RESULT_FILE, json.dumps(result) + "\n")

    def _validated(self) -> MtqConfig:
        try:
            config = load_config([self.config_path])
            check_api_secrets(config)
            config_calendar(config)  # the engine reads it: refused here, not half applied
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
