"""`make bench`: run every benchmark module in its own process, print one table, write var/bench.json.

Each module runs alone so that its Django set-up (a throwaway database, settings) cannot leak into another's.
Figures are medians of repeated runs inside the module; ratios against a floor or peer measured in the same run
are what count on a shared, noisy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# In the order the table shows them; a module missing here is still run (alphabetically, after these).
ORDER = ["bench_parse", "bench_picker", "bench_submit", "bench_poll", "bench_sse", "bench_load"]
TIME_LIMIT = 540  # seconds for one module; the whole run must stay within 10 minutes


def modules() -> list[str]:
    found = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    return [m for m in ORDER if m in found] + [m for m in found if m not in ORDER]


def run_module(name: str, deadline: float) -> dict[str, Any]:
    """Run one module's figures() in a fresh interpreter; its last output line is the JSON of the figures."""
    code = f"import json, benchmarks.{name} as m; print('\\nFIGURES ' + json.dumps(m.figures()))"
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="voxweb.test_settings")
    env.pop("DATABASE_URL", None)  # every module makes its own throwaway database
    timeout = max(30.0, min(TIME_LIMIT, deadline - time.monotonic()))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("FIGURES "):
            return dict(json.loads(line[len("FIGURES ") :]))
    tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
    raise RuntimeError(f"{name} printed no figures (exit {result.returncode}): " + " | ".join(tail))


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def main() -> int:
    started = time.monotonic()
    deadline = started + 590
    figures: dict[str, Any] = {}
    failures = []
    for name in modules():
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            figures.update(run_module(name, deadline))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            failures.append(f"{name}: {exc}")
    rows = [("figure", "value", "unit", "floor/peer", "ratio")]
    for key, fig in figures.items():
        base = fig.get("floor", fig.get("peer", ""))
        kind = "floor" if "floor" in fig else ("peer" if "peer" in fig else "")
        rows.append(
            (key, fmt(fig["value"]), fig.get("unit", ""), f"{kind} {fmt(base)}".strip(), fmt(fig.get("ratio", "")))
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(str(c).ljust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwritten {out.relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
