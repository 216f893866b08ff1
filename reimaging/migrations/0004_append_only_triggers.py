"""The database itself refuses to change or delete history rows (audit entries, job events, API calls).

UPDATE is always refused. DELETE is refused unless the deleting transaction holds a row in
reimaging_archive_permit: the archive_history command inserts one after writing the rows out, deletes, and removes
its permit before committing, so no other connection ever sees one. On PostgreSQL the permit is also bound to the
transaction that wrote it (txid), and TRUNCATE is refused the same way. The app-level guards (AppendOnlyModel and
its queryset, the read-only admin) stay; this is what holds when code, a shell or raw SQL goes around them.

SQLite drops a table's triggers when Django's schema editor remakes the table (most AlterField on SQLite): a
later migration that alters one of these tables must install the triggers again. test_append_only checks that
they are present after all migrations.
"""

from django.db import migrations

PERMIT_TABLE = "reimaging_archive_permit"
MODELS = ("AuditEntry", "JobEvent", "ApiCall")


def _tables(apps):
    return [apps.get_model("reimaging", name)._meta.db_table for name in MODELS]


def _sqlite_install(table):
    return [
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: its rows cannot be changed'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        WHEN NOT EXISTS (SELECT 1 FROM {PERMIT_TABLE})
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows leave only through the archive_history command'); END""",  # noqa: S608
    ]


def _sqlite_remove(table):
    return [f"DROP TRIGGER IF EXISTS {table}_no_update", f"DROP TRIGGER IF EXISTS {table}_no_delete"]


POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION reimaging_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND EXISTS (SELECT 1 FROM {PERMIT_TABLE} WHERE txid = txid_current()) THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION '% is append-only: its rows cannot be changed', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    RAISE EXCEPTION '% is append-only: rows leave only through the archive_history command (% refused)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END
$$"""  # noqa: S608


def _postgres_install(table):
    return [
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION reimaging_append_only()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION reimaging_append_only()""",
    ]


def _postgres_remove(table):
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = [f"CREATE TABLE {PERMIT_TABLE} (token varchar(64) NOT NULL PRIMARY KEY)"]
        for table in _tables(apps):
            statements += _sqlite_install(table)
    elif vendor == "postgresql":
        statements = [
            f"""CREATE TABLE {PERMIT_TABLE} (
                token varchar(64) NOT NULL PRIMARY KEY, txid bigint NOT NULL DEFAULT txid_current())""",
            POSTGRES_FUNCTION,
        ]
        for table in _tables(apps):
            statements += _postgres_install(table)
    else:  # voxweb supports SQLite and PostgreSQL; elsewhere only the app-level guards hold
        return
    for sql in statements:
        schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = [sql for table in _tables(apps) for sql in _sqlite_remove(table)]
    elif vendor == "postgresql":
        statements = [sql for table in _tables(apps) for sql in _postgres_remove(table)]
        statements.append("DROP FUNCTION IF EXISTS reimaging_append_only()")
    else:
        return
    statements.append(f"DROP TABLE IF EXISTS {PERMIT_TABLE}")
    for sql in statements:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("reimaging", "0003_job_reconcile_fields"),
    ]

    operations = [migrations.RunPython(install, remove)]
