"""History is append-only in the app and in the database; archive_history is the one way out."""

from __future__ import annotations

import datetime
import json
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.admin.sites import site
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from reimaging.management.commands import archive_history
from reimaging.models import ApiCall, AppendOnlyError, AuditEntry, JobEvent, ReimageJob
from reimaging.tests.factories import AccountFactory, ReimageJobFactory

pytestmark = pytest.mark.django_db

HISTORY_MODELS = [AuditEntry, JobEvent, ApiCall]
PERMIT_TABLE = "reimaging_archive_permit"


def ago(days: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)


def audit(days_ago: float = 0, **fields) -> AuditEntry:
    fields.setdefault("actor_name", "alice")
    fields.setdefault("action", AuditEntry.Action.LOGIN)
    return AuditEntry.objects.create(at=ago(days_ago), **fields)


def finished_job(days_ago: float, state: str = ReimageJob.State.SUCCEEDED):
    return ReimageJobFactory(state=state, finished_at=ago(days_ago), created_at=ago(days_ago + 1))


def event(job: ReimageJob, days_ago: float, message: str = "") -> JobEvent:
    return JobEvent.objects.create(
        job=job, at=ago(days_ago), from_state="queued", to_state="submitting", message=message
    )


def api_call(job: ReimageJob | None, days_ago: float, account=None) -> ApiCall:
    account = account or (job.account if job else AccountFactory())
    return ApiCall.objects.create(
        account=account, job=job, at=ago(days_ago), method="voxel.devices.list", params={"device_id": 7}, stat="ok"
    )


def one_of_each() -> list:
    job = finished_job(1)
    return [audit(), event(job, 1), api_call(job, 1)]


def permits() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {PERMIT_TABLE}")  # noqa: S608
        return cursor.fetchone()[0]


def raw(sql: str, params: list | None = None) -> None:
    """Run raw SQL in a savepoint, so a refused statement leaves the test's transaction usable (PostgreSQL)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- App level -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(3))
def test_append_only_app_refuses_changes_and_deletes(index: int) -> None:
    row = one_of_each()[index]
    model = type(row)
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).update(pk=row.pk)
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).delete()
    admin = site._registry[model]
    request = RequestFactory().get("/")
    assert not admin.has_change_permission(request, row) and not admin.has_delete_permission(request, row)


# --- Database level --------------------------------------------------------------------------------------------------


def test_append_only_triggers_are_installed() -> None:
    tables = [model._meta.db_table for model in HISTORY_MODELS]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal")
        triggers = {(table, name) for table, name in cursor.fetchall()}
    # A later migration that remakes one of these tables on SQLite drops its triggers: it must install them again.
    for table in tables:
        names = {name for t, name in triggers if t == table}
        expected = {"no_update", "no_delete"} if connection.vendor == "sqlite" else {"append_only", "no_truncate"}
        assert names == {f"{table}_{suffix}" for suffix in expected}, table
    assert permits() == 0


@pytest.mark.parametrize("index", range(3))
def test_append_only_database_refuses_raw_update(index: int) -> None:
    row = one_of_each()[index]
    table = row._meta.db_table
    with pytest.raises(IntegrityError, match="append-only"):
        raw(f"UPDATE {table} SET at = %s WHERE id = %s", [ago(100), row.pk])  # noqa: S608
    with pytest.raises(IntegrityError, match="append-only"):
        raw(f"UPDATE {table} SET at = at")  # noqa: S608
    row.refresh_from_db()
    assert row.at > ago(2)


@pytest.mark.parametrize("index", range(3))
def test_append_only_database_refuses_raw_delete_without_a_permit(index: int) -> None:
    row = one_of_each()[index]
    table = row._meta.db_table
    with pytest.raises(IntegrityError, match="archive_history"):
        raw(f"DELETE FROM {table} WHERE id = %s", [row.pk])  # noqa: S608
    with pytest.raises(IntegrityError, match="archive_history"):
        raw(f"DELETE FROM {table}")  # noqa: S608
    with pytest.raises(IntegrityError), transaction.atomic():
        type(row).objects.filter(pk=row.pk).archive_delete()  # the app's way out still needs the permit
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("index", range(3))
def test_append_only_permit_allows_delete_in_its_transaction_only(index: int) -> None:
    row = one_of_each()[index]
    table = row._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {PERMIT_TABLE} (token) VALUES ('t1')")  # noqa: S608
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            cursor.execute(f"UPDATE {table} SET at = at WHERE id = %s", [row.pk])  # noqa: S608
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row.pk])  # noqa: S608
        cursor.execute(f"DELETE FROM {PERMIT_TABLE} WHERE token = 't1'")  # noqa: S608
    assert not type(row).objects.filter(pk=row.pk).exists()
    assert permits() == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="TRUNCATE exists on PostgreSQL only")
@pytest.mark.parametrize("model", HISTORY_MODELS)
def test_append_only_postgres_refuses_truncate(model) -> None:
    one_of_each()
    raw("SET CONSTRAINTS ALL IMMEDIATE")  # check the inserts' deferred foreign keys now, or TRUNCATE refuses for that
    with pytest.raises(IntegrityError, match="TRUNCATE"):
        raw(f"TRUNCATE {model._meta.db_table} CASCADE")
    assert model.objects.exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="permits are bound to a txid on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_append_only_postgres_permit_left_behind_authorizes_nothing() -> None:
    row = audit()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {PERMIT_TABLE} (token) VALUES ('leaked')")  # noqa: S608
    try:
        with pytest.raises(IntegrityError):
            raw("DELETE FROM reimaging_auditentry WHERE id = %s", [row.pk])
    finally:
        raw(f"DELETE FROM {PERMIT_TABLE}")  # noqa: S608
    assert AuditEntry.objects.filter(pk=row.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_append_only_test_flush_empties_history_tables() -> None:
    """Transactional tests end with a flush; conftest lets it through with a permit and leaves none behind."""
    one_of_each()
    call_command("flush", interactive=False, verbosity=0)
    assert not any(model.objects.exists() for model in HISTORY_MODELS)
    assert permits() == 0
    one_of_each()  # the teardown flush must succeed too


def test_append_only_flush_sql_takes_and_drops_a_permit() -> None:
    from django.core.management.color import no_style

    sql = connection.ops.sql_flush(no_style(), ["reimaging_auditentry"])
    assert sql[0].startswith("INSERT INTO reimaging_archive_permit")
    assert sql[-1].startswith("DELETE FROM reimaging_archive_permit")
    assert connection.ops.sql_flush(no_style(), ["reimaging_device"])[0].startswith(("DELETE", "TRUNCATE"))


# --- archive_history -------------------------------------------------------------------------------------------------


@pytest.fixture
def history() -> dict:
    """Old and recent history, of finished and running jobs, and API calls of no job."""
    old_job, recent_job = finished_job(400), finished_job(10, ReimageJob.State.FAILED)
    running = ReimageJobFactory(state=ReimageJob.State.IN_PROGRESS, created_at=ago(500))
    return {
        "old_audit": audit(400, target="user alice", ip_address="192.0.2.1", user_agent="UA/1"),
        "recent_audit": audit(5),
        "old_event": event(old_job, 401, message="submitted"),
        "recent_job_event": event(recent_job, 400),  # old event, but its job finished inside the retention
        "running_event": event(running, 450),  # the job is still running: kept whatever its age
        "old_call": api_call(old_job, 401),
        "running_call": api_call(running, 450),
        "old_jobless_call": api_call(None, 400),
        "recent_jobless_call": api_call(None, 3),
    }


ARCHIVED = {"old_audit", "old_event", "old_call", "old_jobless_call"}


def exists(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_archive_history_writes_then_deletes_old_rows(history, tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    out = StringIO()
    call_command("archive_history", "--older-than-days", "365", "--output", str(path), stdout=out)

    assert {name for name, row in history.items() if not exists(row)} == ARCHIVED
    lines = read_lines(path)
    assert {(line["model"], line["pk"]) for line in lines} == {
        (history[name]._meta.label_lower, history[name].pk) for name in ARCHIVED
    }
    audit_line = next(line for line in lines if line["model"] == "reimaging.auditentry")
    old = history["old_audit"]
    assert audit_line["fields"] == {
        "at": old.at.isoformat(),
        "actor": None,
        "actor_name": "alice",
        "action": "login",
        "target": "user alice",
        "message": "",
        "ip_address": "192.0.2.1",
        "user_agent": "UA/1",
    }
    assert datetime.datetime.fromisoformat(audit_line["fields"]["at"]) == old.at  # microseconds kept
    call_line = next(line for line in lines if line["pk"] == history["old_call"].pk and "method" in line["fields"])
    assert (
        call_line["fields"]["params"] == {"device_id": 7} and call_line["fields"]["job"] == history["old_call"].job_id
    )
    assert "1 audit entries, 1 job events, 2 API calls" in out.getvalue()
    assert permits() == 0
    record = AuditEntry.objects.get(action=AuditEntry.Action.EXPORTED, target="history archive")
    assert record.actor_name == "archive_history" and str(path) in record.message


def test_archive_history_appends_and_mends_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    path.write_text('{"model": "earlier", "pk": 1, "fields": {}}\n{"model": "cut sh', encoding="utf-8")
    first, second = audit(400, target="first"), audit(399, target="second")
    call_command(
        "archive_history", "--older-than-days", "30", "--output", str(path), "--batch-size", "1", stdout=StringIO()
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"model": "earlier", "pk": 1, "fields": {}}' and lines[1] == '{"model": "cut sh'
    assert [json.loads(line)["pk"] for line in lines[2:]] == [first.pk, second.pk]
    assert not AuditEntry.objects.filter(pk__in=[first.pk, second.pk]).exists()


def test_archive_history_dry_run_changes_nothing(history, tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    out = StringIO()
    call_command("archive_history", "--older-than-days", "365", "--output", str(path), "--dry-run", stdout=out)
    assert "would archive 1 audit entries, 1 job events, 2 API calls" in out.getvalue()
    assert not path.exists()
    assert all(exists(row) for row in history.values())
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.EXPORTED).exists()


def test_archive_history_retention_comes_from_settings(settings, tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    kept, old = audit(20), audit(40)
    settings.REIMAGE_HISTORY_RETENTION_DAYS = 30
    call_command("archive_history", "--output", str(path), stdout=StringIO())
    assert exists(kept) and not exists(old)

    del settings.REIMAGE_HISTORY_RETENTION_DAYS
    year_old, older = audit(300), audit(370)
    call_command("archive_history", "--output", str(path), stdout=StringIO())  # default: 365 days
    assert exists(kept) and exists(year_old) and not exists(older)


def test_archive_history_deletes_nothing_if_the_file_is_not_synced(monkeypatch, tmp_path: Path) -> None:
    row = audit(400)
    path = tmp_path / "a.jsonl"
    path.touch()

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(archive_history.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        call_command("archive_history", "--older-than-days", "30", "--output", str(path), stdout=StringIO())
    assert exists(row)
    assert permits() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than-days", "30"], "--output PATH is required"),
        (["--older-than-days", "0", "--dry-run"], "at least 1"),
        (["--output", "/nonexistent-dir/archive.jsonl"], "does not exist"),
    ],
)
def test_archive_history_refuses_bad_arguments(args: list[str], message: str) -> None:
    row = audit(400)
    with pytest.raises(CommandError, match=message):
        call_command("archive_history", *args, stdout=StringIO())
    assert exists(row)


def test_archive_history_archive_restores_with_loaddata(history, tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    originals = {name: type(history[name]).objects.values().get(pk=history[name].pk) for name in ARCHIVED}
    call_command("archive_history", "--older-than-days", "365", "--output", str(path), stdout=StringIO())
    call_command("loaddata", str(path), verbosity=0)
    for name, values in originals.items():
        assert type(history[name]).objects.values().get(pk=history[name].pk) == values


@pytest.mark.django_db(transaction=True)
def test_archive_history_commits_outside_a_test_transaction(history, tmp_path: Path) -> None:
    """Real transactions: each batch commits its deletes and never leaves a permit behind."""
    path = tmp_path / "archive.jsonl"
    call_command(
        "archive_history", "--older-than-days", "365", "--output", str(path), "--batch-size", "1", stdout=StringIO()
    )
    assert {name for name, row in history.items() if not exists(row)} == ARCHIVED
    assert len(read_lines(path)) == len(ARCHIVED)
    assert permits() == 0
    with pytest.raises(IntegrityError):
        raw("DELETE FROM reimaging_auditentry")
