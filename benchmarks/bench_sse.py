"""Server-Sent Events fan-out: 500 live streams on one web process, from a job change's commit to every browser.

A real Redis and one uvicorn process serving voxweb (wrapped by benchmarks.servers.application, which only adds
GET /_bench/hub to read the hub's render counter). 500 viewers (distinct users, so the per-user stream cap does
not apply) each open /stream/?job=N on the same in-progress job, from asyncio connections in this process. Then
CHANGES times: the job row is updated (committed), the time is taken, and events.job_changed_publish() sends the
notice, as the worker does; each client records when the partial carrying that change's progress value arrived.

- sse_fanout_p50 / sse_fanout_p95: over all (client, change) deliveries, commit to arrival; the aim is p95 <= 250;
- sse_fanout_mix_p95: the same with MIX_ROWS of the clients on the job list's stream (?all_rows=1&rows=N) instead;
- sse_fanout_missed: deliveries that did not arrive within DELIVERY_TIMEOUT (must be 0);
- sse_fanout_renders_per_change (and _mix_): partials the hub rendered per change, whatever the number of clients
  (render once: the job page's status and timeline; in the mix, the job list's row too);
- sse_rss_mb: the web process's RSS with the clients connected, next to (peer) its RSS with none, after warm-up;
- sse_rss_per_stream_kb: the difference per stream;
- sse_redis_connections, sse_threads, sse_open_files: the web process's connections to Redis (counted by Redis),
  threads and file descriptors with the clients connected, next to none connected;
- sse_connect_all: the time to open every stream and receive its first state (CONNECT_AT_ONCE at a time).

Run: python -m benchmarks.bench_sse (about 25 s)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import figure
from benchmarks.servers import (
    Http,
    Sse,
    Stack,
    bounded,
    hub_counts,
    open_files,
    redis_clients,
    rss_mb,
    sessions_for,
    threads,
    users_with_role,
)

CLIENTS = 500
MIX_ROWS = 100  # clients moved to the job list's stream for the mixed phase
CHANGES = 40  # a slow moment hits all 500 deliveries of one change: enough changes keep p95 honest
FIRST_VALUE = 10  # progress values FIRST_VALUE, FIRST_VALUE+1, ... mark the changes; the job starts at 5
GAP = 0.1  # seconds between one change's last delivery and the next change
DELIVERY_TIMEOUT = 5.0
CONNECT_AT_ONCE = 50
# The job page's status partial shows the progress bar; the job list's row shows "NN%".
MARKS = {"job-status": re.compile(r'<progress max="100" value="(\d+)"'), "job-row": re.compile(r"(\d+)%</span>")}


@dataclass(eq=False)
class Client:
    """One stream and what arrived on it: the arrival time of each change's value."""

    sse: Sse
    kind: str  # "job-status" or "job-row"
    got: dict[int, float] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False
    task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        mark = MARKS[self.kind]
        try:
            async for name, data, arrived in self.sse.messages():
                if name == "live":  # sent after the current state: the stream is subscribed
                    self.ready.set()
                elif name.startswith(self.kind) and (found := mark.search(data)):
                    self.got.setdefault(int(found.group(1)), arrived)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.ended = True
            self.ready.set()


def _setup() -> tuple[int, int, list[str]]:
    """An account synced from voxsim, one in-progress job, and CLIENTS viewers with a session each."""
    from django.utils import timezone

    from reimaging import services
    from reimaging.models import Account, Device, ReimageJob
    from voxsim import CUSTOMERS

    logging.getLogger("voxsim").setLevel(logging.WARNING)
    account = Account(
        name="Bench", api_url=_stack.sim.api_url, api_key="staff-key", customer_id=str(CUSTOMERS[0].customer_id)
    )
    account.api_secret = "staff-secret"
    account.save()
    services.inventory_sync(account=account)
    owner = users_with_role("owner", 1, "operator")[0]
    device = Device.objects.filter(account=account, kind=Device.Kind.VOXSERVER).order_by("api_id").first()
    assert device is not None
    now = timezone.now()
    job = ReimageJob.objects.create(
        account=account,
        device=device,
        requested_by=owner,
        requested_by_name=owner.username,
        reason="bench: live updates",
        params={"hostname": "bench.example.com", "image_id": 1},
        state=ReimageJob.State.IN_PROGRESS,
        api_status="in_progress",
        extended_status="Partitioning disks (5%)",
        progress=5,
        submitted_at=now,
        reimage_sent_at=now,
        deadline=now + timezone.timedelta(hours=1),
    )
    viewers = users_with_role("viewer", CLIENTS, "viewer")
    return job.pk, device.pk, sessions_for(viewers)


def _change(job_id: int, device_id: int, value: int) -> float:
    """Commit a new status as the worker would, take the time, then publish the notice; the commit's time."""
    from reimaging.events import job_changed_publish
    from reimaging.models import ReimageJob

    ReimageJob.objects.filter(pk=job_id).update(progress=value, extended_status=f"Installing packages ({value}%)")
    committed = time.perf_counter()  # autocommit: the UPDATE is committed when update() returns
    job_changed_publish(job_id, device_id=device_id, state="in_progress")
    return committed


_stack: Stack


async def _connect(port: int, cookie: str, path: str, kind: str) -> Client:
    sse = Sse(port, cookie, path)
    status = await sse.open()
    if status != 200:
        await sse.close()
        raise RuntimeError(f"{path}: HTTP {status}")
    client = Client(sse, kind)
    client.task = asyncio.get_running_loop().create_task(client.read())
    await asyncio.wait_for(client.ready.wait(), timeout=60)
    return client


async def _connect_all(port: int, specs: list[tuple[str, str, str]]) -> list[Client]:
    results = await bounded([_connect(port, *spec) for spec in specs], CONNECT_AT_ONCE)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(specs)} streams failed; first: {failures[0]!r}")
    return list(results)


async def _changes(
    clients: list[Client], job_id: int, device_id: int, first: int
) -> tuple[dict[str, list[float]], int]:
    """CHANGES changes, each waited for at every client; the delivery times (ms) by kind of client, and the misses."""
    loop = asyncio.get_running_loop()
    latencies: dict[str, list[float]] = {kind: [] for kind in MARKS}
    missed = 0
    with ThreadPoolExecutor(1) as executor:  # the ORM stays off the event loop, on one connection
        for value in range(first, first + CHANGES):
            committed = await loop.run_in_executor(executor, _change, job_id, device_id, value)
            deadline = time.perf_counter() + DELIVERY_TIMEOUT
            while time.perf_counter() < deadline and any(value not in c.got and not c.ended for c in clients):
                await asyncio.sleep(0.005)
            for client in clients:
                if value in client.got:
                    latencies[client.kind].append((client.got[value] - committed) * 1000)
                else:
                    missed += 1
            await asyncio.sleep(GAP)
        await loop.run_in_executor(executor, _close_db)
    return latencies, missed


def _close_db() -> None:
    from django.db import connection

    connection.close()


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


async def _run(job_id: int, device_id: int, keys: list[str]) -> dict[str, Any]:
    port, pid = _stack.web_port, _stack.web_pid
    job_path, rows_path = f"/stream/?job={job_id}", f"/stream/?all_rows=1&rows={job_id}"

    # Warm up: a page and a stream (imports, templates, the hub's Redis subscription), then the idle figures.
    http = Http(port, keys[0])
    status, _ = await http.get(f"/jobs/{job_id}/")
    assert status == 200, status
    await http.close()
    warm = await _connect(port, keys[0], job_path, "job-status")
    await warm.sse.close()
    await asyncio.sleep(1.0)
    idle_rss, idle_redis = rss_mb(pid), redis_clients(_stack.redis_port)
    idle_threads, idle_files = threads(pid), open_files(pid)

    started = time.perf_counter()
    clients = await _connect_all(port, [(key, job_path, "job-status") for key in keys])
    connect_s = time.perf_counter() - started
    hub = await hub_counts(port)
    assert hub["subscribers"] == CLIENTS, hub
    renders_before = hub["renders"]
    by_kind, missed = await _changes(clients, job_id, device_id, FIRST_VALUE)
    latencies = by_kind["job-status"]
    renders = (await hub_counts(port))["renders"] - renders_before
    busy_rss, busy_redis = rss_mb(pid), redis_clients(_stack.redis_port)
    busy_threads, busy_files = threads(pid), open_files(pid)

    # The mix: MIX_ROWS clients move to the job list's stream.
    for client in clients[:MIX_ROWS]:
        await client.sse.close()
    rows = await _connect_all(port, [(key, rows_path, "job-row") for key in keys[:MIX_ROWS]])
    mixed = clients[MIX_ROWS:] + rows
    hub = await hub_counts(port)
    mix_by_kind, mix_missed = await _changes(mixed, job_id, device_id, FIRST_VALUE + CHANGES)
    mix_latencies = [t for times in mix_by_kind.values() for t in times]
    mix_renders = (await hub_counts(port))["renders"] - hub["renders"]

    for client in mixed:
        await client.sse.close()
    await asyncio.sleep(1.0)
    left = (await hub_counts(port))["subscribers"]
    for client in clients + rows:
        if client.task:
            client.task.cancel()
            with contextlib.suppress(BaseException):
                await client.task
    if missed or mix_missed or left:
        print(f"bench_sse: {missed}+{mix_missed} deliveries missed; {left} subscribers left", file=sys.stderr)
    for kind, times in mix_by_kind.items():
        print(f"  mix, {kind:10} n={len(times):5}  p50={statistics.median(times):6.1f} ms  p95={_p95(times):6.1f} ms")
    print(f"  open files: {idle_files} idle, {busy_files} with {CLIENTS} streams")
    return {
        "sse_fanout_p50": figure(statistics.median(latencies), "ms"),
        "sse_fanout_p95": figure(_p95(latencies), "ms", floor=250.0),
        "sse_fanout_mix_p95": figure(_p95(mix_latencies), "ms", floor=250.0),
        "sse_fanout_missed": figure(missed + mix_missed, "deliveries"),
        "sse_fanout_renders_per_change": figure(renders / CHANGES, "renders"),
        "sse_fanout_mix_renders_per_change": figure(mix_renders / CHANGES, "renders"),
        "sse_rss_mb": figure(busy_rss, "MiB", peer=idle_rss),
        "sse_rss_per_stream_kb": figure((busy_rss - idle_rss) * 1024 / CLIENTS, "KiB"),
        "sse_redis_connections": figure(busy_redis, "conns", peer=idle_redis),
        "sse_threads": figure(busy_threads, "threads", peer=idle_threads),
        "sse_open_files": figure(sum(busy_files.values()), "fds", peer=sum(idle_files.values())),
        "sse_connect_all": figure(connect_s, "s"),
    }


def figures() -> dict[str, Any]:
    global _stack
    _stack = Stack("sse", voxsim_devices=40, asgi_app="benchmarks.servers:application")
    with _stack:
        job_id, device_id, keys = _setup()
        try:
            return asyncio.run(_run(job_id, device_id, keys))
        except Exception:
            print(_stack.log_tail("web"), file=sys.stderr)
            raise


if __name__ == "__main__":
    print(json.dumps(figures(), indent=2))
