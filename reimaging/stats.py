"""Numbers about past jobs: duration estimates and the per-image success chart (SVG made on the server)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from reimaging.models import Image, ReimageJob

State = ReimageJob.State


@dataclass(frozen=True)
class ImageStats:
    """Success rate and median duration of the finished jobs of one image."""

    image_id: int
    label: str
    finished: int
    succeeded: int
    median_minutes: float | None

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.finished if self.finished else 0.0


def _durations(jobs: Sequence[tuple[Any, Any]]) -> list[float]:
    return [(finished - submitted).total_seconds() / 60 for submitted, finished in jobs if submitted and finished]


def job_estimate(job: ReimageJob) -> timedelta | None:
    """The median duration of earlier successful reimages with the same image on the same account, if any."""
    image_id = job.params.get("image_id")
    if image_id is None:
        return None
    past = list(
        ReimageJob.objects.filter(account_id=job.account_id, state=State.SUCCEEDED, params__image_id=image_id)
        .exclude(pk=job.pk)
        .exclude(submitted_at__isnull=True)
        .order_by("-finished_at")
        .values_list("submitted_at", "finished_at")[:50]
    )
    minutes = _durations(past)
    return timedelta(minutes=statistics.median(minutes)) if minutes else None


def image_stats(days: int = 30) -> list[ImageStats]:
    """Per image, over the last `days`: finished jobs, successes and the median minutes of the successes."""
    since = timezone.now() - timedelta(days=days)
    rows = ReimageJob.objects.filter(
        finished_at__gte=since, state__in=[State.SUCCEEDED, State.FAILED, State.TIMED_OUT]
    ).values_list("params", "state", "submitted_at", "finished_at")
    grouped: dict[int, list[tuple[str, object, object]]] = {}
    for params, state, submitted, finished in rows:
        image = params.get("image_id") if isinstance(params, dict) else None
        if image is None:
            continue
        grouped.setdefault(int(image), []).append((state, submitted, finished))
    labels = dict(Image.objects.filter(api_id__in=grouped).values_list("api_id", "summary"))
    result = []
    for image_id, jobs in sorted(grouped.items()):
        ok = [(s, f) for state, s, f in jobs if state == State.SUCCEEDED]
        minutes = _durations(ok)
        result.append(
            ImageStats(
                image_id=image_id,
                label=labels.get(image_id, f"image {image_id}"),
                finished=len(jobs),
                succeeded=len(ok),
                median_minutes=statistics.median(minutes) if minutes else None,
            )
        )
    return result


def image_stats_svg(stats: list[ImageStats]) -> SafeString:
    """A horizontal bar chart: success rate per image as a bar, median duration as text. Escaped labels."""
    if not stats:
        return mark_safe("")
    row, label_w, bar_w = 28, 320, 300
    height = row * len(stats) + 30
    width = label_w + bar_w + 170
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="chart-title"><title id="chart-title">Success rate and median duration '
        "per image, last 30 days</title>",
        f'<text x="{label_w}" y="14" class="chart-axis">0%</text>'
        f'<text x="{label_w + bar_w - 30}" y="14" class="chart-axis">100%</text>',
    ]
    for i, item in enumerate(stats):
        y = 22 + i * row
        rate = item.success_rate
        median = f"{item.median_minutes:.1f} min median" if item.median_minutes is not None else "no successes"
        parts.append(
            f'<g><text x="0" y="{y + 15}" class="chart-label">{escape(item.label[:48])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="20" class="chart-track"/>'
            f'<rect x="{label_w}" y="{y}" width="{bar_w * rate:.1f}" height="20" class="chart-bar"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}" class="chart-value">{rate:.0%} of {item.finished}, '
            f"{median}</text></g>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every interpolated text is escaped above)
