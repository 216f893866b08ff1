"""The load test: 50 logged-in users browse and watch for a minute on one web process while 20 reimages run.

A real Redis, one uvicorn process serving voxweb, a Celery worker with beat (REIMAGE_POLL_INTERVAL=1, so the job
polling is real) and voxsim (600 devices, reimages taking REIMAGE_SECONDS) in a thread of this process. Three
accounts are synced; REIMAGES jobs are started through reimaging.services.reimage_start, then USERS users (half
operators, half viewers; one session each) each loop until the deadline over: the device picker (first page,
another page, a search, the HTMX search fragment), device pages, job pages and their HTMX actions fragment, the
job list, and "watching": opening a page and its live stream (the sse-connect URL in the page) for WATCH_SECONDS,
as a browser tab does (on a job page, each status push also fetches the actions fragment, as htmx does). Between
two actions a user thinks for THINK seconds (uniform): 50 users clicking about once a second is a heavy hour for a
support team. SSE streams are not timed as page requests; a stream that is refused or breaks counts as an error.
uvicorn serves benchmarks.servers.application: voxweb's application plus GET /_bench/hub (the hub's counters).

- load_p50 / load_p95: page request times (ms), first byte sent to last byte read, over every page request, next
  to the floor of the same pages requested one at a time after the load (IDLE_RUNS passes);
- load_errors: responses other than 2xx/3xx, exceptions, timeouts and failed streams (must be 0);
- load_requests, load_throughput: page requests made, and per second;
- load_web_cpu, load_client_cpu, load_machine_cpu: CPU used during the load by the web process, by this process
  (the users and voxsim), and by the whole machine (other work on it included);
- load_job_notices, load_hub_renders: "job changed" notices published (by the worker) and partials rendered by the
  web process's hub, per second;
- load_streams, load_stream_events: live streams watched, and the messages they received;
- load_reimages_succeeded: how many of the REIMAGES jobs ended succeeded (floor: all of them).

SECONDS is 60; BENCH_LOAD_SECONDS=15 shortens it for a quick check. Run: python -m benchmarks.bench_load
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import figure
from benchmarks.servers import (
    ChannelCount,
    Http,
    HttpError,
    Sse,
    Stack,
    cpu_seconds,
    hub_counts,
    machine_cpu,
    sessions_for,
    users_with_role,
)

SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
USERS = 50
REIMAGES = 20
REIMAGE_SECONDS = 20.0
DEVICES = 600
THINK = (0.5, 1.5)  # seconds between one user's actions
WATCH_SECONDS = (3.0, 6.0)
REQUEST_TIMEOUT = 30.0
IDLE_RUNS = 4  # passes over the page actions with no load, for the floor
FINISH_GRACE = 30.0  # after the deadline, how long to wait for reimages still running (a short run)
SEARCHES = ["web", "db", "app0", "cache", "lga", "mail 01", "10.", "worker"]
SSE_CONNECT = re.compile(r'sse-connect="([^"]+)"')
SSE_TRIGGER = re.compile(r'hx-trigger="sse:job-status-(\d+)"')
HX = {"HX-Request": "true"}


@dataclass
class Tally:
    """What every user did, shared by all of them (one event loop: no locking)."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    streams: int = 0
    stream_events: int = 0


def _setup() -> tuple[list[int], list[int], list[str], list[int]]:
    """Three accounts synced from voxsim, REIMAGES jobs started, USERS sessions: (device pks, job pks, keys, ...)."""
    from reimaging import services
    from reimaging.models import Account, Device
    from voxsim import CUSTOMERS

    logging.getLogger("voxsim").setLevel(logging.WARNING)
    accounts = []
    for customer in CUSTOMERS[:3]:
        account = Account(
            name=customer.name, api_url=_stack.sim.api_url, api_key="staff-key", customer_id=str(customer.customer_id)
        )
        account.api_secret = "staff-secret"
        account.save()
        services.inventory_sync(account=account)
        accounts.append(account)
    operators = users_with_role("operator", USERS // 2, "operator")
    viewers = users_with_role("viewer", USERS - USERS // 2, "viewer")
    keys = sessions_for(operators + viewers)
    devices = list(Device.objects.values_list("pk", flat=True))
    targets = list(Device.objects.filter(account=accounts[0], kind=Device.Kind.VOXSERVER).order_by("api_id"))
    assert len(targets) >= REIMAGES, len(targets)
    return devices, [t.pk for t in targets[:REIMAGES]], keys, [o.pk for o in operators]


def _start_reimages(device_pks: list[int], operator_pk: int) -> list[int]:
    """The REIMAGES jobs, through the service the reimage form uses (each enqueues its submission for the worker)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from reimaging import services
    from reimaging.models import Device

    user = get_user_model().objects.get(pk=operator_pk)
    jobs = []
    for n, device in enumerate(Device.objects.filter(pk__in=device_pks).select_related("account")):
        image = device.account.images.order_by("api_id").first()
        assert image is not None
        job = services.reimage_start(
            device=device,
            user=user,
            reason=f"load test {n}",
            params={"hostname": f"load{n}.example.com", "image_id": image.api_id},
            secrets={},
        )
        jobs.append(job.pk)
    connection.close()
    return jobs


def _job_states(job_pks: list[int]) -> dict[str, int]:
    from django.db import connection

    from reimaging.models import ReimageJob

    states: dict[str, int] = defaultdict(int)
    for state in ReimageJob.objects.filter(pk__in=job_pks).values_list("state", flat=True):
        states[state] += 1
    connection.close()
    return dict(states)


async def _timed(http: Http, tally: Tally, kind: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    started = time.perf_counter()
    try:
        status, body = await asyncio.wait_for(http.get(path, headers), REQUEST_TIMEOUT)
    except (OSError, HttpError, asyncio.IncompleteReadError, TimeoutError) as exc:
        tally.errors.append(f"{kind} {path}: {type(exc).__name__} {exc}")
        return b""
    tally.times[kind].append((time.perf_counter() - started) * 1000)
    if not 200 <= status < 400:
        tally.errors.append(f"{kind} {path}: HTTP {status}")
    return body


async def _watch(http: Http, page: bytes, seconds: float, tally: Tally) -> None:
    """Open the page's live stream and read it for `seconds`, as a browser tab showing the page does.

    Like htmx on the job page, each job-status push makes the tab fetch the actions fragment (hx-trigger="sse:...").
    """
    text = page.decode(errors="replace")
    found = SSE_CONNECT.search(text)
    if not found:
        tally.errors.append("watch: no sse-connect in the page")
        return
    triggers = {f"job-status-{pk}": f"/jobs/{pk}/?partial=job-actions" for pk in SSE_TRIGGER.findall(text)}
    sse = Sse(http.port, http.cookie, html.unescape(found.group(1)))
    tally.streams += 1

    async def read() -> None:
        status = await sse.open()
        if status != 200:
            raise HttpError(f"stream {sse.path}: HTTP {status}")
        async for name, _, _ in sse.messages():
            tally.stream_events += 1
            if name in triggers:
                await _timed(http, tally, "job_actions_htmx", triggers[name], HX)

    try:
        await asyncio.wait_for(read(), seconds)
    except TimeoutError:
        pass  # the user leaves the page
    except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.errors.append(f"watch {sse.path}: {type(exc).__name__} {exc}")
    finally:
        await sse.close()


ACTIONS = [
    ("picker", 3), ("picker_page", 1), ("picker_search", 1), ("picker_search_htmx", 3), ("device", 2),
    ("job", 2), ("job_actions_htmx", 1), ("jobs", 1), ("watch_job", 2), ("watch_picker", 1),
]  # fmt: skip


def _page(action: str, rng: random.Random, devices: list[int], jobs: list[int]) -> tuple[str, dict[str, str] | None]:
    """The request a page action makes: its path and extra headers."""
    job, device, search = rng.choice(jobs), rng.choice(devices), rng.choice(SEARCHES).replace(" ", "+")
    return {
        "picker": ("/devices/", None),
        "picker_page": (f"/devices/?page={rng.randint(2, 12)}&sort=-cores", None),
        "picker_search": (f"/devices/?q={search}", None),
        "picker_search_htmx": (f"/devices/?q={search}", HX),  # a keystroke in the search box
        "device": (f"/devices/{device}/", None),
        "job": (f"/jobs/{job}/", None),
        "job_actions_htmx": (f"/jobs/{job}/?partial=job-actions", HX),  # what a job page fetches on each push
        "jobs": ("/jobs/", None),
    }[action]


async def _user(n: int, port: int, cookie: str, devices: list[int], jobs: list[int], deadline: float, tally: Tally):
    """One user clicking around until the deadline."""
    rng = random.Random(n)
    http = Http(port, cookie)
    names, weights = [a[0] for a in ACTIONS], [a[1] for a in ACTIONS]
    await asyncio.sleep(rng.uniform(0, THINK[1]))  # users do not all arrive in the same instant
    try:
        while time.perf_counter() < deadline:
            action = rng.choices(names, weights)[0]
            if action.startswith("watch_"):
                kind = action.removeprefix("watch_")
                path, headers = _page(kind, rng, devices, jobs)
                page = await _timed(http, tally, kind, path, headers)
                seconds = min(rng.uniform(*WATCH_SECONDS), deadline - time.perf_counter())
                if page and seconds > 0:
                    await _watch(http, page, seconds, tally)
            else:
                path, headers = _page(action, rng, devices, jobs)
                await _timed(http, tally, action, path, headers)
            await asyncio.sleep(rng.uniform(*THINK))
    finally:
        await http.close()


async def _idle(port: int, cookie: str, devices: list[int], jobs: list[int], runs: int) -> list[float]:
    """The same pages, one at a time with nothing else going on: the floor of the request times."""
    rng = random.Random(-1)
    http, tally = Http(port, cookie), Tally()
    for _ in range(runs):
        for action, weight in ACTIONS:
            if not action.startswith("watch_"):
                for _ in range(weight):
                    await _timed(http, tally, action, *_page(action, rng, devices, jobs))
    await http.close()
    if tally.errors:
        raise RuntimeError(f"errors with no load: {tally.errors[:3]}")
    return [t for times in tally.times.values() for t in times]


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]


async def _run(devices: list[int], targets: list[int], keys: list[str], operator: int) -> dict[str, Any]:
    from reimaging.events import CHANNEL

    loop = asyncio.get_running_loop()
    port, pid = _stack.web_port, _stack.web_pid
    warm = Http(port, keys[0])  # the first request of a process imports and compiles; not a user's wait
    for path in ("/devices/", f"/devices/{devices[0]}/", "/jobs/"):
        await warm.get(path)
    await warm.close()

    renders_started = (await hub_counts(port))["renders"]
    async with ChannelCount(_stack.redis_url, CHANNEL) as notices:
        started, cpu_started = time.perf_counter(), cpu_seconds(pid)
        own_started, (busy_started, total_started) = time.process_time(), machine_cpu()
        jobs = await loop.run_in_executor(None, _start_reimages, targets, operator)
        deadline = started + SECONDS
        tally = Tally()
        await asyncio.gather(*(_user(n, port, key, devices, jobs, deadline, tally) for n, key in enumerate(keys)))
        elapsed, web_cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_started
    renders = (await hub_counts(port))["renders"] - renders_started
    own_cpu, (busy, total) = time.process_time() - own_started, machine_cpu()
    machine = (busy - busy_started) / (total - total_started) * 100

    finish_by = started + REIMAGE_SECONDS + FINISH_GRACE
    states = await loop.run_in_executor(None, _job_states, jobs)
    while states.get("succeeded", 0) + sum(states.get(s, 0) for s in ("failed", "timed_out", "cancelled")) < REIMAGES:
        if time.perf_counter() > finish_by:
            break
        await asyncio.sleep(0.5)
        states = await loop.run_in_executor(None, _job_states, jobs)
    idle = await _idle(port, keys[0], devices, jobs, IDLE_RUNS)

    samples = [t for times in tally.times.values() for t in times]
    for kind, times in sorted(tally.times.items()):
        print(f"  {kind:20} n={len(times):5}  p50={statistics.median(times):7.1f} ms  p95={_p95(times):7.1f} ms")
    print(f"  jobs: {states}; errors: {tally.errors[:5]}")
    return {
        "load_p50": figure(statistics.median(samples), "ms", floor=statistics.median(idle)),
        "load_p95": figure(_p95(samples), "ms", floor=_p95(idle)),
        "load_errors": figure(len(tally.errors), "errors"),
        "load_requests": figure(len(samples), "requests"),
        "load_throughput": figure(len(samples) / elapsed, "req/s"),
        "load_web_cpu": figure(100 * web_cpu / elapsed, "% of a core"),
        "load_client_cpu": figure(100 * own_cpu / elapsed, "% of a core"),  # these users and voxsim
        "load_machine_cpu": figure(machine, f"% of {os.cpu_count()} cores"),
        "load_job_notices": figure(notices.count / elapsed, "notices/s"),
        "load_hub_renders": figure(renders / elapsed, "renders/s"),
        "load_streams": figure(tally.streams, "streams"),
        "load_stream_events": figure(tally.stream_events, "events"),
        "load_reimages_succeeded": figure(states.get("succeeded", 0), "jobs", floor=REIMAGES),
    }


_stack: Stack


def figures() -> dict[str, Any]:
    global _stack
    _stack = Stack(
        "load",
        voxsim_devices=DEVICES,
        reimage_seconds=REIMAGE_SECONDS,
        worker=True,
        asgi_app="benchmarks.servers:application",
        env={"REIMAGE_POLL_INTERVAL": "1"},
    )
    with _stack:
        devices, targets, keys, operators = _setup()
        try:
            return asyncio.run(_run(devices, targets, keys, operators[0]))
        except Exception:
            print(_stack.log_tail("web"), _stack.log_tail("worker"), sep="\n", file=sys.stderr)
            raise


if __name__ == "__main__":
    print(json.dumps(figures(), indent=2))
