"""archive_history: write old history rows to a JSON-lines file, then delete them (the only way out of the log)."""

from __future__ import annotations

import datetime
import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from reimaging.audit import audit_record
from reimaging.models import ApiCall, AuditEntry, JobEvent, ReimageJob

PERMIT_TABLE = "reimaging_archive_permit"  # created with the triggers by migration 0004


class ArchiveEncoder(DjangoJSONEncoder):
    """Django's encoder, but times keep their microseconds (DjangoJSONEncoder cuts them to milliseconds)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def archive_line(row: models.Model) -> str:
    """One row as a JSON line in Django's serialization shape, so `manage.py loaddata` can restore it."""
    fields = {f.name: getattr(row, f.attname) for f in row._meta.concrete_fields if not f.primary_key}
    record = {"model": row._meta.label_lower, "pk": row.pk, "fields": fields}
    return json.dumps(record, cls=ArchiveEncoder, ensure_ascii=False) + "\n"


def history_to_archive(cutoff: datetime.datetime) -> dict[str, models.QuerySet]:
    """What is older than the cutoff: audit entries, and events and API calls of jobs that finished before it."""
    finished = Q(job__state__in=ReimageJob.TERMINAL_STATES, job__finished_at__lt=cutoff)
    return {
        "audit entries": AuditEntry.objects.filter(at__lt=cutoff),
        "job events": JobEvent.objects.filter(finished),
        # Calls made for no job (inventory syncs, status polls) go by their own time.
        "API calls": ApiCall.objects.filter(finished | Q(job__isnull=True, at__lt=cutoff)),
    }


def archive_batches(queryset: models.QuerySet, out: IO[str], batch_size: int) -> Iterator[int]:
    """Write the rows out a batch at a time; after each fsync, delete that batch under a permit in one transaction.

    Yields how many rows each committed batch removed.
    """
    db = queryset.db
    token = uuid.uuid4().hex
    while True:
        with transaction.atomic(using=db):
            # Locked so two archivers never write the same rows (SQLite already serializes writing transactions).
            rows = list(queryset.select_for_update(of=("self",)).order_by("pk")[:batch_size])
            if not rows:
                return
            out.write("".join(archive_line(row) for row in rows))
            out.flush()
            os.fsync(out.fileno())  # the rows are on disk before they leave the database
            with connections[db].cursor() as cursor:
                cursor.execute(f"INSERT INTO {PERMIT_TABLE} (token) VALUES (%s)", [token])  # noqa: S608
                deleted = queryset.model.objects.filter(pk__in=[row.pk for row in rows]).archive_delete()
                cursor.execute(f"DELETE FROM {PERMIT_TABLE} WHERE token = %s", [token])  # noqa: S608
        yield deleted


def open_for_append(path: Path) -> IO[str]:
    """Open the archive for appending; a line cut short by an earlier crash is ended so the next lines stay whole."""
    is_new = not path.exists()
    out = path.open("a", encoding="utf-8")
    if not is_new and path.stat().st_size:
        with path.open("rb") as existing:
            existing.seek(-1, os.SEEK_END)
            if existing.read(1) != b"\n":
                out.write("\n")
    elif is_new and hasattr(os, "O_DIRECTORY"):
        # Make the new file's directory entry durable too.
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return out


class Command(BaseCommand):
    """archive_history --older-than-days N --output PATH [--dry-run]."""

    help = (
        "Append audit entries, and the events and API calls of finished jobs, older than the retention period to a "
        "JSON-lines file (one object per row, restorable with loaddata), fsync it, then delete those rows. A crash "
        "between the two leaves rows both in the file and the database: the next run writes them again (same pk)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help="Retention in days (default: the REIMAGE_HISTORY_RETENTION_DAYS setting, else 365).",
        )
        parser.add_argument("--output", type=Path, help="The JSON-lines file to append to (required unless --dry-run).")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be archived.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows per transaction (default 1000).")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than_days"]
        if days is None:
            days = getattr(settings, "REIMAGE_HISTORY_RETENTION_DAYS", 365)
        if days < 1:
            raise CommandError("--older-than-days must be at least 1.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = timezone.now() - timedelta(days=days)
        querysets = history_to_archive(cutoff)

        if options["dry_run"]:
            counts = {label: qs.count() for label, qs in querysets.items()}
            self.stdout.write(f"Dry run: would archive {self._summary(counts)} older than {cutoff.isoformat()}.")
            return

        path: Path | None = options["output"]
        if path is None:
            raise CommandError("--output PATH is required (or use --dry-run).")
        if not path.parent.is_dir():
            raise CommandError(f"The directory {path.parent} does not exist.")
        try:
            out = open_for_append(path)
        except OSError as exc:
            raise CommandError(f"Cannot append to {path}: {exc.strerror}") from exc
        counts = dict.fromkeys(querysets, 0)
        try:
            with out:
                for label, queryset in querysets.items():
                    for deleted in archive_batches(queryset, out, options["batch_size"]):
                        counts[label] += deleted
        finally:
            # Removing history is itself audited, even when a later batch failed after earlier ones committed.
            if any(counts.values()):
                audit_record(
                    actor=None,
                    actor_name="archive_history",
                    action=AuditEntry.Action.EXPORTED,
                    target="history archive",
                    message=f"archived and deleted {self._summary(counts)} older than {cutoff.isoformat()} to {path}",
                )
        self.stdout.write(
            self.style.SUCCESS(f"Archived {self._summary(counts)} older than {cutoff.isoformat()} to {path}.")
        )

    @staticmethod
    def _summary(counts: dict[str, int]) -> str:
        return ", ".join(f"{count} {label}" for label, count in counts.items())
