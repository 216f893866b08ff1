"""What the benchmark modules share: a throwaway database for Django, and medians of timed runs."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def django_on(db_path: Path) -> None:
    """Point Django at a fresh SQLite file (setting Django up if nobody has yet) and migrate it."""
    import django
    from django.apps import apps
    from django.core.management import call_command

    url = f"sqlite:///{db_path}"
    if not apps.ready:
        os.environ["DJANGO_SETTINGS_MODULE"] = "voxweb.test_settings"
        os.environ["DATABASE_URL"] = url
        django.setup()
    else:  # another benchmark set Django up in this process: swap its default database for ours
        import dj_database_url
        from django.conf import settings
        from django.db import connections

        connections.close_all()
        settings.DATABASES["default"] = {**dj_database_url.parse(url), "TEST": {}}
        del connections["default"]
        connections.__dict__.pop("settings", None)
    call_command("migrate", verbosity=0)


def median_ms(action: Callable[[], object], runs: int) -> float:
    """The median wall time of `runs` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def figure(value: float, unit: str, *, floor: float | None = None, peer: float | None = None) -> dict[str, float | str]:
    """One row of the table: value, unit, the floor or peer it is compared with, and the ratio."""
    row: dict[str, float | str] = {"value": round(value, 3), "unit": unit}
    base = floor if floor is not None else peer
    if base is not None:
        row["floor" if floor is not None else "peer"] = round(base, 3)
        row["ratio"] = round(value / base, 3) if base else 0.0
    return row
