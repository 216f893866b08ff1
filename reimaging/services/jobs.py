"""Reimage jobs: start, submit once, poll, reconcile, retry, cancel; and device locks.

The rule that shapes this module: `voxservers.reimage` is destructive, so it is called at most once per job.
`reimage_sent_at` is committed before the call; from then on the job learns what happened only from the
status method (`jobs_poll`), whatever crashed in between.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from reimaging import voxel
from reimaging.audit import audit_record
from reimaging.clients import client_for
from reimaging.crypto import decrypt_json, encrypt_json
from reimaging.events import job_changed_on_commit
from reimaging.models import Account, AuditEntry, Device, DeviceLock, JobEvent, ReimageJob
from reimaging.services.inventory import device_refresh, voxel_error_text

log = logging.getLogger(__name__)
State = ReimageJob.State

SECRET_PARAMS = ("admin_password", "console_password", "ssh_password")
# A status whose last_update is this much older than our send time still counts as ours (clock skew).
CLOCK_TOLERANCE_SECONDS = 5
PERCENT = re.compile(r"(\d{1,3})\s*%")


class ReimageRefused(Exception):
    """A reimage cannot start; the message says why in words a support engineer can act on."""


class TransitionError(Exception):
    """A state change the job's state machine does not allow (a bug, or a race lost to another process)."""


# --- Transitions ---------------------------------------------------------------------------------------------------


def job_transition(
    job: ReimageJob,
    to_state: str,
    *,
    actor: Any = None,
    message: str = "",
    **fields: Any,
) -> ReimageJob:
    """Move a job (row already locked by the caller) to a new state, append its event and publish after commit."""
    from_state = job.state
    if to_state not in ReimageJob.TRANSITIONS.get(from_state, ()):
        raise TransitionError(f"job {job.pk} cannot go from {from_state} to {to_state}")
    job.state = to_state
    for name, value in fields.items():
        setattr(job, name, value)
    if to_state in ReimageJob.TERMINAL_STATES:
        job.finished_at = timezone.now()
        job.secrets_encrypted = ""  # the outcome is known: passwords are no longer needed
    job.save()
    _event(job, from_state=from_state, to_state=to_state, actor=actor, message=message)
    return job


def _event(job: ReimageJob, *, from_state: str = "", to_state: str = "", actor: Any = None, message: str = "") -> None:
    user = actor if getattr(actor, "is_authenticated", False) else None
    JobEvent.objects.create(
        job=job,
        actor=user,
        actor_name=user.get_username() if user else "system",
        from_state=from_state,
        to_state=to_state,
        message=message,
        extended_status=job.extended_status,
    )
    job_changed_on_commit(job.pk, device_id=job.device_id, state=job.state)


# --- Start, cancel, retry ------------------------------------------------------------------------------------------


def job_submit_enqueue(job_id: int) -> bool:
    """Queue the submit task (id only). If the broker is down the job stays queued and the sweeper sends it later."""
    from reimaging.tasks import job_submit

    try:
        job_submit.delay(job_id)
    except Exception as exc:  # kombu raises its own OperationalError family; none may undo a committed job
        log.warning("job %s: the task queue is unreachable (%s); the sweeper will send it", job_id, type(exc).__name__)
        return False
    return True


def device_refusal(device: Device) -> str | None:
    """Why this device cannot be reimaged now, or None."""
    if device.is_removed:
        return f"Device {device.api_id} is no longer on the account {device.account.name}."
    if not device.is_voxserver:
        return (
            f"Device {device.api_id} is a VoxCLOUD virtual machine; only VoxSERVERs can be reimaged here "
            "(the API refuses it with error 110)."
        )
    lock = device.locks.filter(unlocked_at__isnull=True).select_related("locked_by").first()
    if lock:
        return (
            f"Device {device.api_id} is locked by {lock.locked_by.get_username()} since "
            f"{timezone.localtime(lock.locked_at):%Y-%m-%d %H:%M}: {lock.reason}"
        )
    active = device.jobs.filter(state__in=ReimageJob.ACTIVE_STATES).first()
    if active:
        return active_job_text(active)
    return None


def active_job_text(job: ReimageJob) -> str:
    """'reimage #N by NAME, running 7 min' for messages and badges."""
    minutes = int(job.elapsed().total_seconds() // 60)
    return f"Device {job.device.api_id} is busy: reimage #{job.pk} by {job.requested_by_name}, running {minutes} min."


def reimage_start(
    *,
    device: Device,
    user: Any,
    reason: str,
    params: dict[str, Any],
    secrets: dict[str, str],
    retry_of: ReimageJob | None = None,
    request: HttpRequest | None = None,
) -> ReimageJob:
    """Create a queued job (secrets encrypted on the row) and enqueue its submission, with the job id only.

    params are the API parameters without device_id and without passwords; secrets holds the passwords the user
    set (blank ones are left out, so the API generates them). Raises ReimageRefused with a plain reason.
    """
    if not reason.strip():
        raise ReimageRefused("Say why this device is reimaged (a ticket reference or a sentence).")
    unknown = set(secrets) - set(SECRET_PARAMS)
    if unknown or set(params) & set(SECRET_PARAMS):
        raise ValueError("passwords travel in secrets, never in params")
    secrets = {k: v for k, v in secrets.items() if v}
    try:
        with transaction.atomic():
            locked = Device.objects.select_for_update().select_related("account").get(pk=device.pk)
            refusal = device_refusal(locked)
            if refusal:
                raise ReimageRefused(refusal)
            job = ReimageJob.objects.create(
                account=locked.account,
                device=locked,
                requested_by=user,
                requested_by_name=user.get_username(),
                reason=reason.strip(),
                params=_stored_params(params),
                secrets_encrypted=encrypt_json(secrets) if secrets else "",
                secrets_set=sorted(secrets),
                retry_of=retry_of,
            )
            what = f"retry of #{retry_of.pk}: " if retry_of else ""
            _event(job, to_state=State.QUEUED, actor=user, message=f"{what}{job.reason}")
            audit_record(
                actor=user,
                action=AuditEntry.Action.JOB_RETRIED if retry_of else AuditEntry.Action.JOB_STARTED,
                target=f"job {job.pk} (device {locked.api_id})",
                message=job.reason,
                request=request,
            )
            transaction.on_commit(partial(job_submit_enqueue, job.pk))
    except IntegrityError:
        # Another request won the race for this device; the constraint held. Say who.
        active = ReimageJob.objects.filter(device=device, state__in=ReimageJob.ACTIVE_STATES).first()
        raise ReimageRefused(active_job_text(active) if active else "This device is busy; try again.") from None
    return job


def _stored_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as kept on the job (JSON): blanks dropped, ids and swap as numbers, voxel_access "true"/"false"."""
    out = {k: v for k, v in params.items() if v not in (None, "")}
    for name in ("image_id", "image_version_id", "swap_space"):
        if name in out:
            out[name] = int(out[name])
    if "voxel_access" in out:
        out["voxel_access"] = "true" if str(out["voxel_access"]).lower() in ("true", "1", "on") else "false"
    return out


def job_cancel(*, job: ReimageJob, user: Any, request: HttpRequest | None = None) -> ReimageJob:
    """Cancel a job that has not been submitted yet; later states refuse with a reason."""
    with transaction.atomic():
        job = ReimageJob.objects.select_for_update().get(pk=job.pk)
        if job.state != State.QUEUED:
            raise ReimageRefused(
                f"Reimage #{job.pk} is {job.get_state_display()}: only a queued job can be cancelled, "
                "because the API cannot stop a reimage once it has begun."
            )
        job_transition(job, State.CANCELLED, actor=user, message=f"cancelled by {user.get_username()}")
        audit_record(actor=user, action=AuditEntry.Action.JOB_CANCELLED, target=f"job {job.pk}", request=request)
    return job


def job_retry(
    *, job: ReimageJob, user: Any, secrets: dict[str, str], reason: str = "", request: HttpRequest | None = None
) -> ReimageJob:
    """A new job with the same parameters, linked to the failed or timed-out one; passwords given afresh."""
    if job.state not in ReimageJob.RETRYABLE_STATES:
        raise ReimageRefused(
            f"Reimage #{job.pk} is {job.get_state_display()}; only failed or timed-out jobs are retried."
        )
    return reimage_start(
        device=job.device,
        user=user,
        reason=reason.strip() or job.reason,
        params=dict(job.params),
        secrets=secrets,
        retry_of=job,
        request=request,
    )


# --- Submit --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitOutcome:
    """What job_submit did; retry_in is set when the task should try again after that many seconds."""

    state: str
    retry_in: float | None = None


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: about 5 s, 10 s, 20 s, ... capped at 5 minutes."""
    return random.uniform(0.5, 1.0) * min(300.0, 5.0 * 2 ** max(0, attempt - 1))


def job_submit(*, job_id: int) -> SubmitOutcome:
    """Send the reimage for a queued job, exactly once; map every answer to the job's next state."""
    with transaction.atomic():
        job = ReimageJob.objects.select_for_update().select_related("device", "account").get(pk=job_id)
        if job.state == State.SUBMITTING and job.reimage_sent_at is not None:
            # A redelivered message after a crash: the call may have gone out. Never again; the poller reconciles.
            return SubmitOutcome(job.state)
        if job.state != State.QUEUED:
            return SubmitOutcome(job.state)
        job.attempts += 1
        job_transition(
            job,
            State.SUBMITTING,
            message=f"sending the reimage (attempt {job.attempts})",
            reimage_sent_at=timezone.now(),
            next_attempt_at=None,
        )
    # Committed: from here on the call may reach the API.
    try:
        secrets = decrypt_json(job.secrets_encrypted)
    except Exception:
        return _submit_failed(
            job, None, "The stored passwords could not be decrypted (was FIELD_ENCRYPTION_KEY changed?)."
        )
    client = client_for(job.account, job=job)
    try:
        params: dict[str, Any] = {**_api_params(job.params), **secrets}
        accepted = client.voxservers_reimage(job.device.api_id, **params)
    except voxel.TransientError as exc:
        if exc.maybe_delivered:  # 206 and refused connections say False: nothing happened, safe to resend
            with transaction.atomic():
                job = ReimageJob.objects.select_for_update().get(pk=job_id)
                _event(
                    job,
                    message=(
                        f"no clear answer from the API ({exc}); the reimage may have been received. "
                        "It will not be sent again: the status method will tell."
                    ),
                )
            return SubmitOutcome(State.SUBMITTING)
        return _submit_not_delivered(job_id, exc)
    except voxel.DeviceNotFoundError:
        return _submit_failed(
            job,
            100,
            f"The API does not know device {job.device.api_id} on this account (error 100). Refresh the "
            "inventory: the device may have left the account.",
        )
    except voxel.WrongDeviceTypeError:
        return _submit_failed(
            job,
            110,
            f"Device {job.device.api_id} is not a VoxSERVER (error 110): VoxCLOUD machines cannot be "
            "reimaged with this method.",
        )
    except voxel.AuthError as exc:
        return _submit_failed(job, exc.code, voxel_error_text(exc))
    except voxel.ApiError as exc:
        return _submit_failed(
            job, exc.code, f"The API refused the reimage: {exc.msg or 'no reason given'} (error {exc.code})."
        )
    with transaction.atomic():
        job = ReimageJob.objects.select_for_update().get(pk=job_id)
        if job.state == State.SUBMITTING:
            now = timezone.now()
            job_transition(
                job,
                State.IN_PROGRESS,
                message="the API accepted the reimage",
                api_status=accepted.status or "IN_PROGRESS",
                api_last_update=accepted.last_update,
                submitted_at=now,
                deadline=now + timedelta(minutes=settings.REIMAGE_DEADLINE_MINUTES),
                secrets_encrypted="",
            )
    return SubmitOutcome(State.IN_PROGRESS)


def _api_params(params: dict[str, Any]) -> dict[str, Any]:
    """The stored (JSON) parameters as the client takes them: voxel_access as a bool, numbers as ints."""
    out = dict(params)
    if "voxel_access" in out:
        out["voxel_access"] = str(out["voxel_access"]).lower() in ("true", "1", "on")
    for name in ("image_id", "image_version_id", "swap_space"):
        if out.get(name) not in (None, ""):
            out[name] = int(out[name])
    return out


def _submit_not_delivered(job_id: int, exc: voxel.TransientError) -> SubmitOutcome:
    """The API surely did nothing (refused connection, or 206): try again later, up to the limit."""
    with transaction.atomic():
        job = ReimageJob.objects.select_for_update().get(pk=job_id)
        if job.state != State.SUBMITTING:
            return SubmitOutcome(job.state)
        what = (
            "the API could not acquire a resource (error 206)"
            if isinstance(exc, voxel.ResourceUnavailableError)
            else str(exc)
        )
        if job.attempts >= settings.REIMAGE_SUBMIT_MAX_ATTEMPTS:
            job_transition(
                job,
                State.FAILED,
                message=f"gave up after {job.attempts} attempts: {what}",
                error_code=getattr(exc, "code", None),
                error_message=f"The reimage could not be sent after {job.attempts} attempts: {what}. Nothing was "
                "changed on the device; retry later.",
            )
            return SubmitOutcome(State.FAILED)
        delay = retry_delay(job.attempts)
        job_transition(
            job,
            State.QUEUED,
            message=f"{what}; trying again in {delay:.0f} s",
            reimage_sent_at=None,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        return SubmitOutcome(State.QUEUED, retry_in=delay)


def _submit_failed(job: ReimageJob, code: int | None, text: str) -> SubmitOutcome:
    with transaction.atomic():
        job = ReimageJob.objects.select_for_update().get(pk=job.pk)
        if job.state in ReimageJob.TERMINAL_STATES:
            return SubmitOutcome(job.state)
        job_transition(job, State.FAILED, message=text, error_code=code, error_message=text)
    return SubmitOutcome(State.FAILED)


# --- Poll and sweep ------------------------------------------------------------------------------------------------


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0


def _is_ours(job: ReimageJob, status: voxel.DeviceStatus) -> bool:
    """Whether a status describes this job's reimage rather than an earlier one."""
    if status.last_update is None:
        return job.state == State.IN_PROGRESS
    if job.api_last_update is not None:
        return status.last_update >= job.api_last_update
    return status.last_update >= _epoch(job.reimage_sent_at) - CLOCK_TOLERANCE_SECONDS


def jobs_poll() -> int:
    """One voxservers.status call per account with active jobs; move each job by its device's status.

    Returns the number of status calls made (the benchmark counts them: one per account, however many jobs).
    """
    calls = 0
    active = (
        ReimageJob.objects.filter(state__in=[State.SUBMITTING, State.IN_PROGRESS])
        .exclude(state=State.SUBMITTING, reimage_sent_at__isnull=True)
        .select_related("device", "account")
    )
    by_account: dict[int, list[ReimageJob]] = {}
    for job in active:
        by_account.setdefault(job.account_id, []).append(job)
    for jobs in by_account.values():
        account = jobs[0].account
        calls += 1
        try:
            statuses = {s.device_id: s for s in client_for(account).voxservers_status(verbosity="extended")}
        except voxel.VoxelError as exc:
            log.warning("status poll for %s failed: %s", account.name, type(exc).__name__)
            statuses = {}
            _account_error(account, exc)
        for job in jobs:
            _job_apply_status(job.pk, statuses.get(job.device.api_id))
    return calls


def _account_error(account: Account, exc: voxel.VoxelError) -> None:
    Account.objects.filter(pk=account.pk).update(
        last_sync_error=voxel_error_text(exc), last_sync_error_at=timezone.now()
    )


def _job_apply_status(job_id: int, status: voxel.DeviceStatus | None) -> None:
    refresh_device = False
    with transaction.atomic():
        job = ReimageJob.objects.select_for_update().select_related("device").get(pk=job_id)
        if job.state not in (State.SUBMITTING, State.IN_PROGRESS):
            return
        now = timezone.now()
        ours = status is not None and _is_ours(job, status)
        if ours and status is not None:
            api = (status.status or "").upper()
            if job.state == State.SUBMITTING and api in ("IN_PROGRESS", "QUEUED", "SUCCEEDED", "FAILED"):
                job_transition(
                    job,
                    State.IN_PROGRESS,
                    message="the status method shows the reimage was received",
                    submitted_at=job.reimage_sent_at,
                    deadline=(job.reimage_sent_at or now) + timedelta(minutes=settings.REIMAGE_DEADLINE_MINUTES),
                    secrets_encrypted="",
                )
            if api == "SUCCEEDED":
                job_transition(
                    job, State.SUCCEEDED, message="the API reports the reimage succeeded", api_status=api, progress=100
                )
                Device.objects.filter(pk=job.device_id).update(state_undefined=False, state_undefined_since=None)
                refresh_device = True
            elif api == "FAILED":
                step = f" at: {status.extended_status}" if status.extended_status else ""
                text = (
                    f"The API reports the reimage failed{step}. The server's state is undefined; check it, then retry."
                )
                job_transition(job, State.FAILED, message=text, api_status=api, error_message=text)
                Device.objects.filter(pk=job.device_id).update(state_undefined=True, state_undefined_since=now)
            elif status.extended_status != job.extended_status or api != job.api_status:
                job.api_status = api
                job.extended_status = (status.extended_status or "")[:500]
                match = PERCENT.search(job.extended_status)
                job.progress = min(100, int(match.group(1))) if match else job.progress
                job.save(update_fields=["api_status", "extended_status", "progress", "updated_at"])
                _event(job, message=job.extended_status or api)
        if job.state == State.SUBMITTING and job.reimage_sent_at is not None:
            waited = (now - job.reimage_sent_at).total_seconds()
            if waited > settings.REIMAGE_STUCK_AFTER_SECONDS:
                text = (
                    "The reimage request got no clear answer and the API shows no reimage of this device since "
                    f"it was sent {int(waited // 60)} min ago. It was not sent again. Check the device, then retry."
                )
                job_transition(job, State.FAILED, message=text, error_message=text)
        elif job.state == State.IN_PROGRESS and job.deadline and now > job.deadline:
            text = (
                f"No final status within {settings.REIMAGE_DEADLINE_MINUTES} min. The reimage may still be "
                "running or stuck; check the device before retrying."
            )
            job_transition(job, State.TIMED_OUT, message=text, error_message=text)
            Device.objects.filter(pk=job.device_id).update(state_undefined=True, state_undefined_since=now)
    if refresh_device:
        try:
            device_refresh(device=job.device)
        except voxel.VoxelError as exc:
            log.warning("could not refresh device %s after reimage: %s", job.device.api_id, type(exc).__name__)


def jobs_sweep() -> list[int]:
    """Find queued jobs whose submit message was lost and enqueue them again; returns their ids.

    Jobs that may have reached the API (submitting with reimage_sent_at) are never resubmitted: the poller
    reconciles them through the status method, and fails them plainly if nothing shows.
    """
    stuck_before = timezone.now() - timedelta(seconds=settings.REIMAGE_STUCK_AFTER_SECONDS)
    requeued = []
    for job in ReimageJob.objects.filter(state=State.QUEUED, updated_at__lt=stuck_before):
        if job.next_attempt_at and job.next_attempt_at > stuck_before:
            continue
        with transaction.atomic():
            locked = ReimageJob.objects.select_for_update().get(pk=job.pk)
            if locked.state != State.QUEUED:
                continue
            locked.save(update_fields=["updated_at"])  # so the next sweep waits again
            _event(locked, message="the submit message seems lost; queued again")
            transaction.on_commit(partial(job_submit_enqueue, locked.pk))
        requeued.append(job.pk)
    return requeued


# --- Locks ---------------------------------------------------------------------------------------------------------


def device_lock(*, device: Device, user: Any, reason: str, request: HttpRequest | None = None) -> DeviceLock:
    """Protect a device against reimaging, with a reason; audited."""
    if not reason.strip():
        raise ReimageRefused("Say why the device is locked.")
    try:
        with transaction.atomic():
            lock = DeviceLock.objects.create(device=device, reason=reason.strip(), locked_by=user)
            audit_record(
                actor=user,
                action=AuditEntry.Action.DEVICE_LOCKED,
                target=f"device {device.api_id}",
                message=lock.reason,
                request=request,
            )
    except IntegrityError:
        raise ReimageRefused(f"Device {device.api_id} is already locked.") from None
    return lock


def device_unlock(*, device: Device, user: Any, request: HttpRequest | None = None) -> DeviceLock:
    """Lift the device's lock (the lock row stays, as a record); audited."""
    with transaction.atomic():
        lock = DeviceLock.objects.select_for_update().filter(device=device, unlocked_at__isnull=True).first()
        if lock is None:
            raise ReimageRefused(f"Device {device.api_id} is not locked.")
        lock.unlocked_by = user
        lock.unlocked_at = timezone.now()
        lock.save(update_fields=["unlocked_by", "unlocked_at"])
        audit_record(
            actor=user, action=AuditEntry.Action.DEVICE_UNLOCKED, target=f"device {device.api_id}", request=request
        )
    return lock
