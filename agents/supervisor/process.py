"""Start an agent as an OS process and stop it gracefully: SIGTERM, wait, then kill."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from bus.child_env import NATS_CLIENT, child_environment
from bus.security.client import TlsFiles
from config import AccountConfig


def agent_command(
    account_id: str, *, config_paths: Sequence[str | Path], nats_url: str, data_dir: Path
) -> list[str]:
    """The command line of `mtq agent run` for one account, on this Python interpreter."""
    command = [sys.executable, "-m", "mtq", "agent", "run", "--account", account_id]
    for path in config_paths:
        command += ["--config", str(path)]
    return [*command, "--nats-url", nats_url, "--data", str(data_dir)]


class AgentProcess:
    """One running child process."""

    def __init__(self, proc: asyncio.subprocess.Process, log_file: IO[bytes] | None) -> None:
        self._proc = proc
        self._log_file = log_file

    @classmethod
    async def spawn(
        cls,
        command: Sequence[str],
        *,
        log_path: Path | None,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> AgentProcess:
        """Start `command` in its own session; output goes to `log_path` (appended) if given.

        `env` is the child's whole environment (see `child_environment`); `pass_fds` are
        inherited (the liveness pipe).
        """
        log_file: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = log_path.open("ab")
        options: dict[str, Any] = {"stdin": asyncio.subprocess.DEVNULL}
        if log_file is not None:
            options.update(stdout=log_file, stderr=asyncio.subprocess.STDOUT)
        if sys.platform != "win32":
            # Own session: a Ctrl-C in the terminal reaches the supervisor, which stops
            # its agents in order, instead of killing every agent behind its back.
            options["start_new_session"] = True
        child_env = {**(child_environment() if env is None else env), "PYTHONUNBUFFERED": "1"}
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, env=child_env, pass_fds=tuple(pass_fds), **options
            )
        except BaseException:
            if log_file is not None:
                log_file.close()
            raise
        return cls(proc, log_file)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        code = await self._proc.wait()
        self._close_log()
        return code

    async def stop(self, timeout_s: float) -> tuple[int, bool]:
        """Terminate; kill if still alive after `timeout_s`. Returns (returncode, killed)."""
        if self._proc.returncode is not None:
            return await self.wait(), False
        with contextlib.suppress(ProcessLookupError):
            self._proc.terminate()
        try:
            return await asyncio.wait_for(asyncio.shield(self.wait()), timeout_s), False
        except TimeoutError:
            pass
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        return await self.wait(), True

    def _close_log(self) -> None:
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()


def credentials_env(creds: Path | None, tls: TlsFiles | None = None) -> dict[str, str]:
    """Environment giving a child process its own NATS identity and TLS trust.

    Paths only: the secret stays in the 0600 file, never in an environment or a log line.
    """
    env: dict[str, str] = {}
    if creds is not None:
        env["NATS_CREDS"] = str(creds.resolve())
    if tls is not None and tls.ca:
        env["NATS_TLS_CA"] = str(Path(tls.ca).resolve())
    return env


def agent_environment(
    account: AccountConfig, identity: dict[str, str] | None = None
) -> dict[str, str]:
    """An agent's whole environment: the basics, its terminal's password variable and its
    own NATS identity (`credentials_env`); without one, the supervisor's NATS settings.

    Nothing else of mtq's: no API tokens, webhook or signal secrets, other accounts'
    passwords or other identities' credentials.
    """
    keep = [account.password_env] if account.password_env else []
    if not identity:
        keep += NATS_CLIENT
    return child_environment(identity, keep=keep)
