"""Live updates over Server-Sent Events: one Redis subscription per web process, fanned out to every stream.

A page opens one stream (`/stream/?job=5`, `?rows=1,2,3`, `?devices=4,5`) naming what it shows. The worker
publishes "job N changed" on Redis after each commit; the process's Hub renders each affected partial ONCE and
queues the HTML on every subscriber that shows it. A stream first sends the current state of what it shows (so a
reconnect misses nothing), then changes as they come, with a heartbeat comment every HEARTBEAT seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from reimaging.events import CHANNEL
from reimaging.models import ReimageJob

log = logging.getLogger(__name__)
HEARTBEAT = 15.0
MAX_STREAMS_PER_USER = 12
MAX_TOPICS = 200
QUEUE_SIZE = 200
# An id: ASCII digits only (str.isdigit() also accepts '²'), short enough for a 64-bit column.
DIGITS = re.compile(r"[0-9]{1,18}")
SLOT_TTL = 3 * HEARTBEAT  # a stream not heard of for this long no longer counts against its user
LIVE_OK = '<span class="live-dot" aria-hidden="true">●</span> <span class="live-text">live</span>'
LIVE_DEGRADED = (
    '<span class="live-dot" aria-hidden="true">●</span> '
    '<span class="live-text">live updates paused (Redis unreachable); reload to refresh</span>'
)


def sse_event(name: str, data: str) -> str:
    """One SSE message; every line of the data gets its own data: field."""
    lines = data.splitlines() or [""]
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


@dataclass(eq=False)
class Subscriber:
    """One open stream: who is watching what, and the queue of messages for it."""

    user_id: int
    can_reimage: bool
    job: int | None = None
    rows: frozenset[int] = frozenset()
    devices: frozenset[int] = frozenset()
    # List pages follow every job/device: rows the page does not show are simply not swapped in the browser, and
    # after a filter swap the rows shown change without a new connection.
    all_rows: bool = False
    all_devices: bool = False
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def send(self, message: str | None) -> None:
        """Queue a message; a subscriber too slow to keep up is cut off (it reconnects and gets the state anew)."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.queue.get_nowait()
            self.queue.put_nowait(None)


# --- Rendering (sync; run in a thread) -------------------------------------------------------------------------------


def render_job_status(job_id: int) -> tuple[str, bool] | None:
    """The job page's status partial and whether the job is final; None if the job is gone."""
    from reimaging.views.jobs import job_context

    job = ReimageJob.objects.select_related("device", "account").filter(pk=job_id).first()
    if job is None:
        return None
    return render_to_string("reimaging/job_detail.html#job-status", job_context(job)), job.is_terminal


def render_job_timeline(job_id: int) -> str | None:
    """The job page's timeline of events."""
    job = ReimageJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    return render_to_string("reimaging/job_detail.html#job-timeline", {"job": job, "events": list(job.events.all())})


def render_job_row(job_id: int) -> str | None:
    """One row of the job list."""
    job = ReimageJob.objects.select_related("device", "account").filter(pk=job_id).first()
    if job is None:
        return None
    return render_to_string("reimaging/job_list.html#job-row", {"job": job})


def render_device_row(device_pk: int, can_reimage: bool) -> str | None:
    """One row of the device picker, as a user who may (or may not) reimage sees it."""
    from reimaging.views.devices import device_row_context

    context = device_row_context(device_pk)
    if context is None:
        return None
    context["perms"] = {"reimaging": {"start_reimage": can_reimage}}
    return render_to_string("reimaging/device_list.html#device-row", context)


def render_notice(job_id: int) -> tuple[int | None, str] | None:
    """A small notice for the user who started a job that has just finished."""
    job = ReimageJob.objects.select_related("device").filter(pk=job_id).first()
    if job is None or not job.is_terminal:
        return None
    return job.requested_by_id, render_to_string("reimaging/_notice.html", {"job": job})


# --- The hub ----------------------------------------------------------------------------------------------------------


class Hub:
    """The per-process fan-out: one Redis subscription, any number of subscribers."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.task: asyncio.Task[None] | None = None
        self.connected = False
        self.failed = False  # True once a subscription attempt failed and none has succeeded since
        self.renders = 0  # how many partials were rendered for pushes (tests and benchmarks read it)

    def add(self, sub: Subscriber) -> None:
        """Register a stream, starting the Redis listener on first use."""
        self.subscribers.add(sub)
        if self.task is None or self.task.done():
            # A fresh context: created from within one stream's request, the task would otherwise inherit that
            # request's thread-sensitive context and render in a thread that dies with the request.
            self.task = asyncio.get_running_loop().create_task(self._listen(), context=contextvars.Context())

    def remove(self, sub: Subscriber) -> None:
        """Forget a stream that closed."""
        self.subscribers.discard(sub)

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=10)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._set_connected(True)
                    backoff = 0.5
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=HEARTBEAT)
                        if message and message.get("type") == "message":
                            await self.publish(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarted: say so on every page, then try again
                log.warning("live updates: Redis subscription lost (%s); retrying", type(exc).__name__)
                self._set_connected(False)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _set_connected(self, connected: bool) -> None:
        if connected == self.connected and (connected or self.failed):
            return
        self.connected, self.failed = connected, not connected
        message = sse_event("live", LIVE_OK if connected else LIVE_DEGRADED)
        for sub in list(self.subscribers):
            sub.send(message)
        if connected:  # changes may have been missed while disconnected: resend the state of everything shown
            asyncio.get_running_loop().create_task(self.resync())

    async def resync(self) -> None:
        """Push the current state of every job and device some subscriber shows."""
        jobs = {s.job for s in self.subscribers if s.job} | {r for s in self.subscribers for r in s.rows}
        for job_id in jobs:
            await self.publish(json.dumps({"job": job_id}), final_notice=False)
        devices = {d for s in self.subscribers for d in s.devices}
        for device_pk in devices:
            await self._push_device(device_pk)

    async def publish(self, raw: bytes | str, *, final_notice: bool = True) -> None:
        """Handle one 'job changed' message: render each affected partial once, queue it on its subscribers.

        Every partial the change needs is rendered in one trip to a worker thread, so a page showing several of
        them waits for one hop, not one per partial.
        """
        try:
            data = json.loads(raw)
            job_id = int(data["job"])
        except (ValueError, KeyError, TypeError):
            return
        device_pk = data.get("device") if isinstance(data.get("device"), int) else None
        subs = list(self.subscribers)
        page_subs = [s for s in subs if s.job == job_id]
        row_subs = [s for s in subs if s.all_rows or job_id in s.rows]
        device_subs = (
            {
                variant: [s for s in subs if (s.all_devices or device_pk in s.devices) and s.can_reimage is variant]
                for variant in (True, False)
            }
            if device_pk is not None
            else {True: [], False: []}
        )
        notice_wanted = final_notice and data.get("state") in ReimageJob.TERMINAL_STATES and bool(subs)
        needs = Needs(
            job_id=job_id,
            status=bool(page_subs),
            row=bool(row_subs),
            device_pk=device_pk,
            device_variants=tuple(v for v, group in device_subs.items() if group),
            notice=notice_wanted,
        )
        if not needs.anything:
            return
        out = await sync_to_async(render_change)(needs)
        self.renders += out.renders
        if out.status:
            html, final = out.status
            messages = [sse_event(f"job-status-{job_id}", html)]
            if out.timeline:
                messages.append(sse_event(f"job-timeline-{job_id}", out.timeline))
            if final:
                messages.append(sse_event("close", "final"))
            for sub in page_subs:
                for message in messages:
                    sub.send(message)
        if out.row:
            message = sse_event(f"job-row-{job_id}", out.row)
            for sub in row_subs:
                sub.send(message)
        for variant, html in out.device_rows.items():
            message = sse_event(f"device-row-{device_pk}", html)
            for sub in device_subs[variant]:
                sub.send(message)
        if out.notice:
            user_id, html = out.notice
            message = sse_event("notice", html)
            for sub in subs:
                if sub.user_id == user_id:
                    sub.send(message)

    async def _push_device(self, device_pk: int) -> None:
        variants = tuple(
            v
            for v in (True, False)
            if any((s.all_devices or device_pk in s.devices) and s.can_reimage is v for s in self.subscribers)
        )
        if not variants:
            return
        out = await sync_to_async(render_change)(Needs(job_id=0, device_pk=device_pk, device_variants=variants))
        self.renders += out.renders
        for variant, html in out.device_rows.items():
            message = sse_event(f"device-row-{device_pk}", html)
            for sub in self.subscribers:
                if (sub.all_devices or device_pk in sub.devices) and sub.can_reimage is variant:
                    sub.send(message)


@dataclass(frozen=True)
class Needs:
    """Which partials one change needs, decided from who is subscribed."""

    job_id: int
    status: bool = False
    row: bool = False
    device_pk: int | None = None
    device_variants: tuple[bool, ...] = ()
    notice: bool = False

    @property
    def anything(self) -> bool:
        return self.status or self.row or bool(self.device_variants) or self.notice


@dataclass
class Rendered:
    """The partials rendered for one change."""

    status: tuple[str, bool] | None = None
    timeline: str | None = None
    row: str | None = None
    device_rows: dict[bool, str] = field(default_factory=dict)
    notice: tuple[int | None, str] | None = None
    renders: int = 0


def render_change(needs: Needs) -> Rendered:
    """Render, in one thread hop, every partial a change needs (each once, whoever watches it)."""
    out = Rendered()
    if needs.status:
        out.status, out.timeline = render_job_status(needs.job_id), render_job_timeline(needs.job_id)
        out.renders += 2
    if needs.row:
        out.row = render_job_row(needs.job_id)
        out.renders += 1
    for variant in needs.device_variants:
        assert needs.device_pk is not None
        html = render_device_row(needs.device_pk, variant)
        out.renders += 1
        if html:
            out.device_rows[variant] = html
    if needs.notice:
        out.notice = render_notice(needs.job_id)
    return out


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    """This process's hub (one per event loop)."""
    loop_id = id(asyncio.get_running_loop())
    if loop_id not in _hubs:
        _hubs[loop_id] = Hub()
    return _hubs[loop_id]


# --- The view ---------------------------------------------------------------------------------------------------------


def _ids(raw: str) -> frozenset[int]:
    ids = []
    for part in raw.split(",")[:MAX_TOPICS]:
        part = part.strip()
        if DIGITS.fullmatch(part):
            ids.append(int(part))
    return frozenset(ids)


_slot_clients: dict[tuple[int, str], aioredis.Redis] = {}


def _slot_client() -> aioredis.Redis:
    """One Redis client per event loop for the stream counter (not one per stream)."""
    key = (id(asyncio.get_running_loop()), settings.REDIS_URL)
    if key not in _slot_clients:
        _slot_clients[key] = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    return _slot_clients[key]


class _StreamSlots:
    """A per-user cap on open streams, shared by every web process through Redis.

    Each stream is a member of a sorted set scored by when it expires; the heartbeat pushes that forward, so a
    stream whose process died (a deploy, a crash) stops counting within SLOT_TTL seconds instead of locking
    its user out.
    """

    def __init__(self, user_id: int) -> None:
        self.key = f"voxweb:streams:{user_id}"
        self.member = uuid.uuid4().hex
        self.held = False

    async def take(self) -> bool:
        now = time.time()
        try:
            client = _slot_client()
            await client.zremrangebyscore(self.key, "-inf", now)
            if await client.zcard(self.key) >= MAX_STREAMS_PER_USER:
                return False
            await client.zadd(self.key, {self.member: now + SLOT_TTL})
            await client.expire(self.key, int(SLOT_TTL * 2))
        except Exception:  # without Redis there is no fan-out either; let the stream show the current state
            return True
        self.held = True
        return True

    async def refresh(self) -> None:
        if self.held:
            with contextlib.suppress(Exception):
                await _slot_client().zadd(self.key, {self.member: time.time() + SLOT_TTL})

    async def give_back(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(Exception):
                await _slot_client().zrem(self.key, self.member)


def _initial(sub: Subscriber) -> tuple[list[str], bool]:
    """The current state of everything the subscriber shows, and whether its job is already final."""
    messages, final = [], False
    if sub.job:
        rendered = render_job_status(sub.job)
        if rendered:
            messages.append(sse_event(f"job-status-{sub.job}", rendered[0]))
            final = rendered[1]
        timeline = render_job_timeline(sub.job)
        if timeline:
            messages.append(sse_event(f"job-timeline-{sub.job}", timeline))
    for job_id in sorted(sub.rows):
        row = render_job_row(job_id)
        if row:
            messages.append(sse_event(f"job-row-{job_id}", row))
    for device_pk in sorted(sub.devices):
        row = render_device_row(device_pk, sub.can_reimage)
        if row:
            messages.append(sse_event(f"device-row-{device_pk}", row))
    return messages, final


def _initial_then_release(sub: Subscriber) -> tuple[list[str], bool]:
    """The initial state; then this request's database connection is closed, since a stream may stay open
    for an hour and needs the database only through the hub from here on."""
    try:
        return _initial(sub)
    finally:
        connection.close()


@login_not_required  # an EventSource cannot follow a login redirect; it gets a plain 401 instead
@require_GET
async def event_stream(request: HttpRequest) -> HttpResponseBase:
    """The SSE stream of the page: current state first, then changes, a heartbeat, and the end for final jobs."""
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse("Log in first.", status=401, content_type="text/plain")
    if not await sync_to_async(user.has_perm)("reimaging.view_reimagejob"):
        return HttpResponse("Your role may not watch jobs.", status=403, content_type="text/plain")
    slots = _StreamSlots(user.pk)
    if not await slots.take():
        text = f"Too many live pages open ({MAX_STREAMS_PER_USER}); close some tabs."
        return HttpResponse(text, status=429, content_type="text/plain")
    job = request.GET.get("job", "")
    sub = Subscriber(
        user_id=user.pk,
        can_reimage=await sync_to_async(user.has_perm)("reimaging.start_reimage"),
        job=int(job) if DIGITS.fullmatch(job) else None,
        rows=_ids(request.GET.get("rows", "")),
        devices=_ids(request.GET.get("devices", "")),
        all_rows=request.GET.get("all_rows") == "1",
        all_devices=request.GET.get("all_devices") == "1",
    )
    the_hub = hub()

    async def stream() -> AsyncIterator[str]:
        try:
            the_hub.add(sub)  # before reading the state, so no change falls between the two
            yield "retry: 2000\n\n"
            messages, final = await sync_to_async(_initial_then_release)(sub)
            for message in messages:
                yield message
            # "live" only once the hub is subscribed; while it connects, its broadcast will say so when it is.
            if the_hub.connected or the_hub.failed:
                yield sse_event("live", LIVE_OK if the_hub.connected else LIVE_DEGRADED)
            if final:
                yield sse_event("close", "final")
                return
            while True:
                try:
                    queued: str | None = await asyncio.wait_for(sub.queue.get(), timeout=HEARTBEAT)
                except TimeoutError:
                    await slots.refresh()
                    yield ": heartbeat\n\n"
                    continue
                if queued is None:  # cut off for being too slow: end, the browser reconnects
                    return
                yield queued
                if queued.startswith("event: close\n"):
                    return
        finally:
            the_hub.remove(sub)
            await slots.give_back()

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
