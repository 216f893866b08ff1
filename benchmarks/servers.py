"""What the live benchmarks (bench_sse, bench_load) share: real services, sessions, and a small async HTTP client.

`Stack` starts, on 127.0.0.1 only, a throwaway SQLite database (migrated in this process), a real Redis, one
uvicorn process serving voxweb, and optionally voxsim (a thread of this process) and a Celery worker with beat.
Every child runs under coreutils `timeout`, so it stops by itself even if this process is killed; `stop()` ends
them sooner. The client speaks just enough HTTP/1.1 over asyncio streams for GETs and Server-Sent Events: a few
hundred connections cost little, and no extra dependency is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, django_on
from voxweb.processes import Child, free_port, python_command, redis_command, wait_for_port

HOST = "127.0.0.1"
LIFETIME = 400  # seconds: the longest any child may live, whatever happens to this process
KEEP_ALIVE = 4.0  # seconds a client keeps an idle connection for reuse (uvicorn closes them after 5)


def _status(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} for process {pid}")


def rss_mb(pid: int) -> float:
    """The resident set size of a process, in MiB (VmRSS of /proc/<pid>/status)."""
    return _status(pid, "VmRSS") / 1024


def threads(pid: int) -> int:
    """How many threads a process has."""
    return _status(pid, "Threads")


def open_files(pid: int) -> dict[str, int]:
    """A process's open file descriptors by kind: sockets, database files (sqlite3 and its -wal/-shm), others."""
    kinds = {"sockets": 0, "database": 0, "other": 0}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        kind = "sockets" if target.startswith("socket:") else "database" if ".sqlite3" in target else "other"
        kinds[kind] += 1
    return kinds


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far (/proc/stat); compare two readings."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


def redis_clients(port: int) -> int:
    """How many clients are connected to the Redis on this port (INFO clients), this query's own included."""
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(b"INFO clients\r\n")
        data = b""
        while b"connected_clients:" not in data or not data.endswith(b"\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode().splitlines():
        if line.startswith("connected_clients:"):
            return int(line.split(":")[1])
    raise RuntimeError("INFO clients gave no connected_clients")


def _die_with_parent() -> None:
    """In the child before exec: have the kernel send SIGTERM when the benchmark process dies, however it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Stack:
    """Redis, voxweb under uvicorn, and optionally voxsim and a Celery worker with beat, all throwaway."""

    def __init__(
        self,
        name: str,
        *,
        voxsim_devices: int = 0,
        reimage_seconds: float = 60.0,
        worker: bool = False,
        asgi_app: str = "voxweb.asgi:application",
        env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self.voxsim_devices = voxsim_devices
        self.reimage_seconds = reimage_seconds
        self.worker = worker
        self.asgi_app = asgi_app
        self.extra_env = env or {}
        self.redis_port = free_port()
        self.redis_url = f"redis://{HOST}:{self.redis_port}/0"
        self.web_port = 0
        self.children: list[Child] = []
        self.web: Child | None = None
        self.sim: Any = None

    @property
    def web_pid(self) -> int:
        """The uvicorn process (the child of its `timeout` wrapper)."""
        assert self.web is not None and self.web.proc is not None
        wrapper = self.web.proc.pid
        children = Path(f"/proc/{wrapper}/task/{wrapper}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def _child(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
        bounded = ["timeout", "-k", "5", str(LIFETIME), *args]
        child = Child(
            name, bounded, env=env, cwd=ROOT, log=self.tmp / f"{name}.log", preexec_fn=_die_with_parent
        ).start()
        self.children.append(child)
        return child

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
        env.update(
            DJANGO_SETTINGS_MODULE="voxweb.test_settings",
            DATABASE_URL=f"sqlite:///{self.tmp / 'db.sqlite3'}",
            REDIS_URL=self.redis_url,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0",
            SECURE_COOKIES="0",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
        env.update(self.extra_env)
        return env

    def start(self) -> Stack:
        """Database first (this process's Django points at it and at this Redis), then the processes."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Stack:
        os.environ["REDIS_URL"] = self.redis_url  # read by the settings when Django is set up just below
        django_on(self.tmp / "db.sqlite3")
        from django.conf import settings

        from voxweb.celery import app

        settings.REDIS_URL = self.redis_url  # in case Django was set up before this stack
        app.conf.broker_url = app.conf.result_backend = self.redis_url
        redis = self._child("redis", redis_command(self.redis_port))
        wait_for_port(self.redis_port, proc=redis.proc)
        if self.voxsim_devices:
            from voxsim.server import start

            self.sim = start(devices=self.voxsim_devices, seed=7, reimage_seconds=self.reimage_seconds)
        self.web_port = free_port()
        uvicorn = ["-m", "uvicorn", self.asgi_app, "--host", HOST, "--port", str(self.web_port)]
        uvicorn += ["--timeout-graceful-shutdown", "1", "--no-access-log", "--log-level", "warning"]
        self.web = self._child("web", python_command(*uvicorn), self.child_env())
        if self.worker:
            worker = ["-m", "celery", "-A", "voxweb", "worker", "-B", "-s", str(self.tmp / "beat"), "-l", "WARNING"]
            worker += ["--concurrency", "2", "-n", f"bench{os.getpid()}@%h"]
            self._child("worker", python_command(*worker), self.child_env())
        wait_for_port(self.web_port, proc=self.web.proc, timeout=30)
        return self

    def stop(self) -> None:
        """Stop every child (latest first) and voxsim, and remove the temporary directory."""
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop(timeout=5)
        if self.sim is not None:
            with contextlib.suppress(Exception):
                self.sim.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.tmp / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sessions_for(users: list[Any]) -> list[str]:
    """A logged-in session key per user, written straight to the session store (500 logins would cost minutes)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    keys = []
    with transaction.atomic():
        for user in users:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            assert session.session_key is not None
            keys.append(session.session_key)
    return keys


def users_with_role(prefix: str, count: int, role: str) -> list[Any]:
    """count users named prefix0, prefix1, ... with one role (no usable password: they log in by session)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from reimaging import roles

    User = get_user_model()
    if not Group.objects.filter(name=role).exists():
        roles.roles_sync()
    users = [User(username=f"{prefix}{n}") for n in range(count)]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    Group.objects.get(name=role).user_set.add(*users)
    return users


# --- A minimal asyncio HTTP/1.1 client --------------------------------------------------------------------------------


class HttpError(Exception):
    """The server answered in a way this client cannot read, or closed the connection."""


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise HttpError("connection closed before a response") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _chunks(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
    """The body, as it arrives: chunked, by Content-Length, or up to the end of the connection."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from uvicorn: the blank line ends the body
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length:
            yield await reader.readexactly(length)
    else:
        while data := await reader.read(65536):
            yield data


def _request(path: str, cookie: str, extra: dict[str, str] | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}", f"Cookie: sessionid={cookie}", "User-Agent: voxweb-bench"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Http:
    """One keep-alive connection of one logged-in user; reconnects after an error or a Connection: close."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port = port
        self.cookie = cookie
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """GET path; the status and the whole body.

        As browsers do, a connection idle for longer than the server's keep-alive timeout (uvicorn's is 5 s) is
        not reused, and a GET on a kept-alive connection that the server closed before answering is sent again once.
        """
        if self.writer is not None and time.monotonic() - self.last_used > KEEP_ALIVE:
            await self.close()
        reused = self.writer is not None
        try:
            return await self._get(path, headers)
        except HttpError:
            if not reused:
                raise
        return await self._get(path, headers)

    async def _get(self, path: str, headers: dict[str, str] | None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        try:
            self.writer.write(_request(path, self.cookie, headers))
            status, head = await _read_head(self.reader)
            body = b"".join([chunk async for chunk in _chunks(self.reader, head)])
        except BaseException:
            await self.close()
            raise
        self.last_used = time.monotonic()
        if head.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            writer, self.writer, self.reader = self.writer, None, None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class Sse:
    """One Server-Sent Events stream: opened with a GET, then read message by message with arrival times."""

    def __init__(self, port: int, cookie: str, path: str) -> None:
        self.port, self.cookie, self.path = port, cookie, path
        self.status = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.head: dict[str, str] = {}

    async def open(self) -> int:
        """Connect and read the response head; the status (200 when the stream is on)."""
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(_request(self.path, self.cookie, {"Accept": "text/event-stream"}))
        self.status, self.head = await _read_head(self.reader)
        return self.status

    async def messages(self) -> AsyncIterator[tuple[str, str, float]]:
        """(event name, data, perf_counter when its chunk arrived) for each message, until the stream ends."""
        assert self.reader is not None
        buffer = ""
        async for chunk in _chunks(self.reader, self.head):
            arrived = time.perf_counter()
            buffer += chunk.decode()
            while "\n\n" in buffer:
                raw, buffer = buffer.split("\n\n", 1)
                name, data = "message", []
                for line in raw.split("\n"):
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                if data:
                    yield name, "\n".join(data), arrived

    async def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def bounded(coroutines: list[Awaitable[Any]], limit: int) -> list[Any]:
    """Run coroutines with at most limit at a time; their results in order (exceptions returned, not raised)."""
    gate = asyncio.Semaphore(limit)

    async def one(coroutine: Awaitable[Any]) -> Any:
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines), return_exceptions=True)


async def hub_counts(port: int) -> dict[str, int]:
    """The web process's hub counters, from GET /_bench/hub (served by `application` below)."""
    http = Http(port, "")
    try:
        status, body = await http.get("/_bench/hub")
        if status != 200:
            raise HttpError(f"/_bench/hub: HTTP {status}")
        return dict(json.loads(body))
    finally:
        await http.close()


class ChannelCount:
    """Counts the messages published on a Redis channel while it runs (the job-changed notices, for instance)."""

    def __init__(self, url: str, channel: str) -> None:
        self.url, self.channel = url, channel
        self.count = 0
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ChannelCount:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.url)
        pubsub = client.pubsub()
        await pubsub.subscribe(self.channel)

        async def listen() -> None:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.count += 1
            finally:
                await pubsub.aclose()
                await client.aclose()

        self.task = asyncio.get_running_loop().create_task(listen())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


# --- An ASGI wrapper that lets the benchmarks read the hub's counters -------------------------------------------------

_application: Callable[..., Awaitable[None]] | None = None


async def application(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """voxweb's ASGI application, plus GET /_bench/hub answering the hub's render and subscriber counts (JSON)."""
    global _application
    if _application is None:
        from voxweb.asgi import application as voxweb_application

        _application = voxweb_application
    if scope["type"] == "http" and scope["path"] == "/_bench/hub":
        from reimaging.streams import hub

        the_hub = hub()
        body = json.dumps({"renders": the_hub.renders, "subscribers": len(the_hub.subscribers)}).encode()
        head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": body})
        return
    await _application(scope, receive, send)
