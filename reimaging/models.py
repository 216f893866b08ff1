"""The data voxweb keeps: accounts and their inventory (synced from the hAPI), reimage jobs and their history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a row of an append-only log."""


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk edits and deletes are refused; only the archive command removes old rows (archive_delete)."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only and cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only and cannot be deleted.")

    def archive_delete(self) -> int:
        """Delete rows that the archive command has already written out (the one way out of the log)."""
        return self._raw_delete(self.db)


class AppendOnlyModel(models.Model):
    """A row that is written once: history (events, API calls, audit entries) is never rewritten."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only and cannot be deleted.")


class Account(models.Model):
    """A customer account voxweb acts for through the hAPI (key, encrypted secret, optional customer_id)."""

    name = models.CharField(max_length=200, unique=True)
    api_url = models.URLField(max_length=500)
    api_key = models.CharField(max_length=200)
    api_secret_encrypted = models.TextField(help_text="Fernet token; set through the admin form, never shown.")
    customer_id = models.CharField(max_length=50, blank=True, help_text="For staff/reseller keys: the customer.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sync_started_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True, help_text="Last successful sync.")
    last_sync_duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    last_sync_error = models.TextField(blank=True)
    last_sync_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def api_secret(self) -> str:
        from reimaging.crypto import decrypt

        return decrypt(self.api_secret_encrypted)

    @api_secret.setter
    def api_secret(self, value: str) -> None:
        from reimaging.crypto import encrypt

        self.api_secret_encrypted = encrypt(value)


class Vlan(models.Model):
    """A VLAN assigned to an account: public (frontend) or private (backend) subnets at one facility."""

    class Kind(models.TextChoices):
        FRONTEND = "frontend", "public (frontend)"
        BACKEND = "backend", "private (backend)"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="vlans")
    api_id = models.CharField(max_length=50)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    facility = models.CharField(max_length=50)
    description = models.CharField(max_length=500, blank=True)
    # [{"network": "10.1.0.0/24", "gateway": "10.1.0.1"}, ...]
    subnets = models.JSONField(default=list)
    is_removed = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "api_id"], name="vlan_unique_per_account")]
        ordering = ["account", "facility", "kind", "api_id"]

    def __str__(self) -> str:
        return f"VLAN {self.api_id} ({self.kind}, {self.facility})"


class Image(models.Model):
    """An OS image the account may install (images.list)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="images")
    api_id = models.IntegerField()
    summary = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    architecture = models.CharField(max_length=20, blank=True)
    os_family = models.CharField(max_length=100, blank=True)
    os_product = models.CharField(max_length=100, blank=True)
    os_version = models.CharField(max_length=100, blank=True)
    admin_username = models.CharField(max_length=100, blank=True)
    is_removed = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "api_id"], name="image_unique_per_account")]
        ordering = ["summary"]

    def __str__(self) -> str:
        return self.summary


class ImageVersion(models.Model):
    """A version of an image; one of them may be the default the API picks when none is given."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="versions")
    api_id = models.IntegerField()
    label = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "api_id"], name="imageversion_unique_per_image")]
        ordering = ["-is_default", "-label"]

    def __str__(self) -> str:
        return f"{self.label}{' (default)' if self.is_default else ''}"


class Device(models.Model):
    """A device on an account, as devices.list last described it; never deleted (history points at it)."""

    class Kind(models.TextChoices):
        VOXSERVER = "voxserver", "VoxSERVER"
        VOXCLOUD = "voxcloud", "VoxCLOUD"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="devices")
    api_id = models.BigIntegerField(help_text="The hAPI device_id.")
    label = models.CharField(max_length=300, blank=True, help_text="Hostname/label from the API.")
    description = models.CharField(max_length=500, blank=True)
    power_status = models.CharField(max_length=30, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    type_name = models.CharField(max_length=100, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    facility = models.CharField(max_length=50, blank=True)
    facility_name = models.CharField(max_length=200, blank=True)
    location = models.JSONField(default=dict, blank=True)
    os_name = models.CharField(max_length=200, blank=True)
    os_architecture = models.CharField(max_length=20, blank=True)
    cores = models.PositiveIntegerField(null=True, blank=True)
    memory_mb = models.PositiveIntegerField(null=True, blank=True)
    disk_gb = models.PositiveIntegerField(null=True, blank=True)
    # Usernames per access method; passwords are never synced into the database (fetched on reveal).
    access_methods = models.JSONField(default=list, blank=True)
    # Denormalized for the picker: one row per device, no joins, constant queries.
    frontend_ips = models.CharField(max_length=500, blank=True)
    backend_ips = models.CharField(max_length=500, blank=True)
    search_text = models.TextField(blank=True, help_text="Lower-cased hostname, label, id, IPs and OS for search.")
    state_undefined = models.BooleanField(default=False, help_text="The last reimage failed: state undefined.")
    state_undefined_since = models.DateTimeField(null=True, blank=True)
    is_removed = models.BooleanField(default=False, help_text="No longer on the account (kept for history).")
    removed_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "api_id"], name="device_unique_per_account")]
        indexes = [
            models.Index(fields=["label"]),
            models.Index(fields=["facility"]),
            models.Index(fields=["is_removed", "label"]),
        ]
        ordering = ["label", "api_id"]
        permissions = [
            ("refresh_inventory", "Can refresh the inventory from the API"),
            ("lock_device", "Can lock and unlock devices"),
        ]

    def __str__(self) -> str:
        return f"{self.label or 'device'} (#{self.api_id})"

    @property
    def is_voxserver(self) -> bool:
        return self.kind == self.Kind.VOXSERVER

    def default_swap_gb(self) -> int:
        """The API's default swap: 1 GB per processor core."""
        return max(1, self.cores or 1)


class IpAssignment(models.Model):
    """An address assigned to a device, as devices.list reports it."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="ip_assignments")
    api_id = models.CharField(max_length=50, blank=True)
    kind = models.CharField(max_length=10, choices=Vlan.Kind.choices)
    address = models.GenericIPAddressField()
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["address"])]
        ordering = ["kind", "address"]

    def __str__(self) -> str:
        return f"{self.address} ({self.kind})"


class DeviceLock(models.Model):
    """An admin's protection of a device against reimaging; kept after unlocking as a record."""

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="locks")
    reason = models.TextField()
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField(default=timezone.now)
    unlocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    unlocked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device"], condition=Q(unlocked_at__isnull=True), name="one_active_lock_per_device"
            )
        ]
        ordering = ["-locked_at"]

    def __str__(self) -> str:
        return f"lock on {self.device} by {self.locked_by}"


class ReimageJob(models.Model):
    """One reimage of one device: its parameters, encrypted secrets while needed, state and outcome."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        SUBMITTING = "submitting", "submitting"
        IN_PROGRESS = "in_progress", "in progress"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        TIMED_OUT = "timed_out", "timed out"
        CANCELLED = "cancelled", "cancelled"

    ACTIVE_STATES: ClassVar[tuple[str, ...]] = (State.QUEUED, State.SUBMITTING, State.IN_PROGRESS)
    TERMINAL_STATES: ClassVar[tuple[str, ...]] = (State.SUCCEEDED, State.FAILED, State.TIMED_OUT, State.CANCELLED)
    RETRYABLE_STATES: ClassVar[tuple[str, ...]] = (State.FAILED, State.TIMED_OUT)
    # Allowed moves; anything else is a bug and is refused by services.job_transition.
    TRANSITIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        State.QUEUED: (State.SUBMITTING, State.CANCELLED, State.FAILED),
        State.SUBMITTING: (State.QUEUED, State.IN_PROGRESS, State.FAILED, State.SUCCEEDED, State.TIMED_OUT),
        State.IN_PROGRESS: (State.SUCCEEDED, State.FAILED, State.TIMED_OUT),
    }
    COLOURS: ClassVar[dict[str, str]] = {
        State.QUEUED: "grey",
        State.SUBMITTING: "blue",
        State.IN_PROGRESS: "blue",
        State.SUCCEEDED: "green",
        State.FAILED: "red",
        State.TIMED_OUT: "orange",
        State.CANCELLED: "grey",
    }

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="jobs")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="reimage_jobs"
    )
    requested_by_name = models.CharField(max_length=150, help_text="Kept if the user is later removed.")
    reason = models.TextField()
    params = models.JSONField(default=dict, help_text="The parameters sent, without secrets.")
    secrets_encrypted = models.TextField(blank=True, help_text="Fernet token of the passwords; wiped when done.")
    secrets_set = models.JSONField(default=list, help_text="Names of the password params the user set.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    api_status = models.CharField(max_length=30, blank=True)
    extended_status = models.CharField(max_length=500, blank=True)
    progress = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Percent, from extended_status.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Submit attempts that did not reach the API.")
    # Set (and committed) just before the destructive call: once set, reimage is never called again for this job;
    # what happened is learnt from the status method instead.
    reimage_sent_at = models.DateTimeField(null=True, blank=True)
    api_last_update = models.BigIntegerField(null=True, blank=True, help_text="last_update (epoch) when accepted.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When a delayed submit is due.")
    error_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    retry_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="retries")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device"],
                condition=Q(state__in=["queued", "submitting", "in_progress"]),
                name="one_active_job_per_device",
            )
        ]
        indexes = [models.Index(fields=["state"]), models.Index(fields=["-created_at"])]
        ordering = ["-created_at", "-id"]
        permissions = [
            ("start_reimage", "Can start, retry and cancel reimages"),
            ("reveal_credentials", "Can reveal generated credentials"),
            ("export_history", "Can export job history"),
        ]

    def __str__(self) -> str:
        return f"reimage #{self.pk} of {self.device}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("job_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL_STATES

    @property
    def colour(self) -> str:
        return self.COLOURS.get(self.state, "grey")

    def elapsed(self) -> timedelta:
        """Time from creation to the end (or now, while it runs)."""
        return (self.finished_at or timezone.now()) - self.created_at


class JobEvent(AppendOnlyModel):
    """One step in a job's life: a state change or a progress note, by a person or the system."""

    job = models.ForeignKey(ReimageJob, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    # PROTECT: history is never rewritten, so a user who appears in it is deactivated, not deleted.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    actor_name = models.CharField(max_length=150, default="system")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)
    extended_status = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.from_state} -> {self.to_state}"


class ApiCall(AppendOnlyModel):
    """One hAPI call as the client reported it: masked parameters, timing and result."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="api_calls")
    job = models.ForeignKey(ReimageJob, on_delete=models.PROTECT, null=True, blank=True, related_name="api_calls")
    at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=100)
    params = models.JSONField(default=dict)
    duration_ms = models.FloatField(null=True)
    http_status = models.PositiveSmallIntegerField(null=True)
    stat = models.CharField(max_length=10, blank=True)
    error_code = models.IntegerField(null=True)
    error_message = models.TextField(blank=True)
    response_body = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["method", "-at"])]

    def __str__(self) -> str:
        return f"{self.method} ({self.stat or 'no answer'})"


class AuditEntry(AppendOnlyModel):
    """Who did what, from where: logins, role changes, locks, job actions, reveals and exports."""

    class Action(models.TextChoices):
        LOGIN = "login", "logged in"
        LOGIN_FAILED = "login_failed", "failed to log in"
        LOGOUT = "logout", "logged out"
        ROLE_CHANGED = "role_changed", "role changed"
        DEVICE_LOCKED = "device_locked", "locked a device"
        DEVICE_UNLOCKED = "device_unlocked", "unlocked a device"
        JOB_STARTED = "job_started", "started a reimage"
        JOB_CANCELLED = "job_cancelled", "cancelled a reimage"
        JOB_RETRIED = "job_retried", "retried a reimage"
        CREDENTIALS_REVEALED = "credentials_revealed", "revealed credentials"
        EXPORTED = "exported", "exported"
        INVENTORY_REFRESHED = "inventory_refreshed", "refreshed the inventory"

    at = models.DateTimeField(default=timezone.now)
    # PROTECT: history is never rewritten, so a user who appears in it is deactivated, not deleted.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=30, choices=Action.choices)
    target = models.CharField(max_length=300, blank=True, help_text="What it was done to, e.g. 'job 12'.")
    message = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["-at"]), models.Index(fields=["action", "-at"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_name} {self.get_action_display()} {self.target}".strip()


class Heartbeat(models.Model):
    """The last time a background process said it was alive (the worker writes 'worker')."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at}"
