"""Reads: what pages show, already filtered for the user."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from django.core.paginator import Page, Paginator
from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.http import QueryDict
from django.utils import timezone
from django.utils.http import urlencode

from reimaging.models import Account, Device, DeviceLock, IpAssignment, ReimageJob, Vlan


def api_banner() -> dict[str, str] | None:
    """A banner when an account's last contact with the API failed (read from the database, never the API)."""
    failing = list(
        Account.objects.filter(is_active=True)
        .filter(Q(last_sync_at__isnull=True) | Q(last_sync_error_at__gt=F("last_sync_at")))
        .exclude(last_sync_error="")
        .values_list("name", "last_sync_error")[:3]
    )
    if not failing:
        return None
    names = ", ".join(name for name, _ in failing)
    return {"level": "error", "text": f"The Voxel API is failing for {names}: {failing[0][1]}"}


# --- Inventory sync status -----------------------------------------------------------------------------------------

# A sync that started longer ago than this without finishing is not "running" any more (the worker died).
SYNC_RUNNING_FOR_AT_MOST = 15 * 60


def ago(moment: datetime, now: datetime | None = None) -> str:
    """'just now', '40 s ago', '2 min ago', '3 h ago', '2 days ago'."""
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


@dataclass(frozen=True)
class AccountSync:
    """How an account's inventory sync stands, in words: level is ok, running, error or never."""

    pk: int
    name: str
    level: str
    text: str
    synced: bool = False


SYNC_FIELDS = (
    "pk",
    "name",
    "last_sync_started_at",
    "last_sync_at",
    "last_sync_duration",
    "last_sync_error",
    "last_sync_error_at",
)


def _sync_text(account: dict[str, Any], now: datetime) -> AccountSync:
    pk, name = account["pk"], account["name"]
    done, failed, started = account["last_sync_at"], account["last_sync_error_at"], account["last_sync_started_at"]
    latest = max((m for m in (done, failed) if m), default=None)
    data = f"data from {ago(done, now)}" if done else "nothing synced yet"
    synced = done is not None
    if started and (latest is None or started > latest) and (now - started).total_seconds() < SYNC_RUNNING_FOR_AT_MOST:
        return AccountSync(pk, name, "running", f"syncing now (started {ago(started, now)}); {data}", synced)
    if account["last_sync_error"] and failed and (done is None or failed > done):
        text = f"the last sync failed {ago(failed, now)}: {account['last_sync_error']} ({data})"
        return AccountSync(pk, name, "error", text, synced)
    if done is None:
        return AccountSync(pk, name, "never", "never synced yet")
    duration = account["last_sync_duration"]
    took = f" in {duration:.1f} s" if duration is not None else ""
    return AccountSync(pk, name, "ok", f"synced {ago(done, now)}{took}", synced)


def accounts_sync_status() -> list[AccountSync]:
    """Every active account with when it last synced, how long it took, or its last error in plain words."""
    now = timezone.now()
    return [_sync_text(account, now) for account in Account.objects.filter(is_active=True).values(*SYNC_FIELDS)]


# --- The device picker ---------------------------------------------------------------------------------------------

PICKER_PAGE_SIZE = 25
# sort key -> (column heading, order_by fields); the last field makes the order total, so pages never overlap.
PICKER_SORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "customer": ("Customer", ("account__name", "label", "pk")),
    "id": ("Id", ("api_id", "pk")),
    "hostname": ("Hostname", ("label", "pk")),
    "facility": ("Facility", ("facility", "label", "pk")),
    "type": ("Type", ("kind", "label", "pk")),
    "os": ("OS", ("os_name", "label", "pk")),
    "cores": ("Cores", ("cores", "label", "pk")),
}
PICKER_DEFAULT_SORT = "hostname"
PICKER_STATES: dict[str, str] = {
    "idle": "idle",
    "reimaging": "reimaging",
    "failed": "failed last time",
    "locked": "locked",
    "removed": "removed from the account",
}
# The columns a picker row shows, read as plain values: a page of rows builds no model instances.
PICKER_COLUMNS = (
    "pk",
    "api_id",
    "label",
    "description",
    "facility",
    "kind",
    "os_name",
    "cores",
    "frontend_ips",
    "backend_ips",
    "state_undefined",
    "is_removed",
)


def _picker_values(devices: QuerySet[Device]) -> QuerySet[Device, dict[str, Any]]:
    """The row values, with the device's active job and active lock joined in (the database allows one of each)."""
    return devices.annotate(
        active_job=FilteredRelation("jobs", condition=Q(jobs__state__in=ReimageJob.ACTIVE_STATES)),
        active_lock=FilteredRelation("locks", condition=Q(locks__unlocked_at__isnull=True)),
    ).values(
        *PICKER_COLUMNS,
        customer=F("account__name"),
        job_pk=F("active_job__pk"),
        job_by=F("active_job__requested_by_name"),
        job_created_at=F("active_job__created_at"),
        lock_reason=F("active_lock__reason"),
        lock_at=F("active_lock__locked_at"),
        lock_by=F("active_lock__locked_by__username"),
    )


def _int_or_none(raw: str | None) -> int | None:
    """A positive whole number small enough for any database column, or None."""
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


@dataclass(frozen=True)
class PickerQuery:
    """The picker's search, filters, sort and page, read from the query string; values it does not know are ignored."""

    q: str = ""
    customer: int | None = None
    facility: str = ""
    type: str = ""
    state: str = ""
    sort: str = PICKER_DEFAULT_SORT
    page: int = 1

    @classmethod
    def from_params(cls, params: QueryDict) -> PickerQuery:
        """Parse and normalise request.GET."""
        sort = params.get("sort", "")
        return cls(
            q=" ".join(params.get("q", "").split())[:200],
            customer=_int_or_none(params.get("customer")),
            facility=params.get("facility", "").strip().lower()[:50],
            type=params.get("type", "") if params.get("type") in Device.Kind.values else "",
            state=params.get("state", "") if params.get("state") in PICKER_STATES else "",
            sort=sort if sort.removeprefix("-") in PICKER_SORTS else PICKER_DEFAULT_SORT,
            page=max(1, _int_or_none(params.get("page")) or 1),
        )

    @property
    def terms(self) -> list[str]:
        """The search words, lower-cased; a device must match all of them."""
        return self.q.lower().split()

    @property
    def is_filtered(self) -> bool:
        """Whether a search or a filter narrows the list."""
        return bool(self.q or self.customer or self.facility or self.type or self.state)

    def params(self, **changes: Any) -> dict[str, Any]:
        """The canonical parameters: defaults and empty values left out, so equal views share one URL."""
        values = replace(self, **changes)
        out = {
            "q": values.q,
            "customer": values.customer or "",
            "facility": values.facility,
            "type": values.type,
            "state": values.state,
            "sort": values.sort if values.sort != PICKER_DEFAULT_SORT else "",
            "page": values.page if values.page != 1 else "",
        }
        return {k: v for k, v in out.items() if v != ""}

    def querystring(self, **changes: Any) -> str:
        """The canonical query string (without '?') for this view, with changes applied."""
        return urlencode(self.params(**changes))


@dataclass(frozen=True)
class PickerColumn:
    """A sortable column heading: the link that sorts by it, and how it is sorted now."""

    key: str
    label: str
    href: str
    aria_sort: str = "none"
    arrow: str = ""


def picker_columns(query: PickerQuery, base_url: str) -> list[PickerColumn]:
    """The sortable headings: a click sorts by the column, a second click reverses it; back to page 1."""
    columns = []
    descending = query.sort.startswith("-")
    for key, (label, _) in PICKER_SORTS.items():
        current = query.sort.removeprefix("-") == key
        next_sort = f"-{key}" if current and not descending else key
        href = f"{base_url}?{query.querystring(sort=next_sort, page=1)}"
        if current:
            aria, arrow = ("descending", " ▼") if descending else ("ascending", " ▲")
            columns.append(PickerColumn(key, label, href, aria, arrow))
        else:
            columns.append(PickerColumn(key, label, href))
    return columns


@dataclass(frozen=True)
class PickerFilter:
    """One of the picker's select boxes: (value, text, selected) options, 'all' first."""

    name: str
    label: str
    options: list[tuple[str, str, bool]]


def picker_filters(query: PickerQuery, accounts: list[AccountSync], facilities: list[str]) -> list[PickerFilter]:
    """The customer, facility, type and state filters, with the query's choices selected."""

    def options(anything: str, current: str, choices: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
        return [("", anything, not current), *((value, text, value == current) for value, text in choices)]

    return [
        PickerFilter(
            "customer", "Customer", options("all", str(query.customer or ""), [(str(a.pk), a.name) for a in accounts])
        ),
        PickerFilter("facility", "Facility", options("all", query.facility, [(f, f.upper()) for f in facilities])),
        PickerFilter("type", "Type", options("all", query.type, list(Device.Kind.choices))),
        PickerFilter("state", "State", options("any", query.state, list(PICKER_STATES.items()))),
    ]


def _busy() -> Exists:
    return Exists(ReimageJob.objects.filter(device=OuterRef("pk"), state__in=ReimageJob.ACTIVE_STATES))


def _locked() -> Exists:
    return Exists(DeviceLock.objects.filter(device=OuterRef("pk"), unlocked_at__isnull=True))


def device_picker(query: PickerQuery) -> QuerySet[Device]:
    """The devices the picker lists for this query, in its order."""
    devices = Device.objects.filter(is_removed=query.state == "removed")
    for term in query.terms:
        # search_text is lower-cased by the sync, so a plain LIKE serves every database alike.
        devices = devices.filter(search_text__contains=term)
    if query.customer:
        devices = devices.filter(account_id=query.customer)
    if query.facility:
        devices = devices.filter(facility=query.facility)
    if query.type:
        devices = devices.filter(kind=query.type)
    if query.state == "idle":
        devices = devices.filter(~_busy(), ~_locked(), state_undefined=False)
    elif query.state == "reimaging":
        devices = devices.filter(_busy())
    elif query.state == "failed":
        devices = devices.filter(state_undefined=True)
    elif query.state == "locked":
        devices = devices.filter(_locked())
    _, fields = PICKER_SORTS[query.sort.removeprefix("-")]
    order: list[Any] = list(fields)
    if query.terms and order[0] == "label":
        # A search reads every row anyway. Ordered by the bare column, the planner walks the label index and
        # looks up row after row until it has a page of matches (slow when matches sort late); ordered by an
        # expression it scans once and sorts only the matches. Hostnames are lower case, so the order is the same.
        order[0] = Lower("label")
    if query.sort.startswith("-"):
        order = [f"-{name}" if isinstance(name, str) else name.desc() for name in order]
    return devices.order_by(*order)


def device_picker_page(query: PickerQuery, per_page: int = PICKER_PAGE_SIZE) -> Page[dict[str, Any]]:
    """One page of picker rows (dicts of PICKER_COLUMNS, customer, job_*, lock_*, refusal); two queries.

    Without a search the page is a LIMIT over an index and the count is cheap. A search has to read every
    row's search_text, so it reads them once: the ordered ids of all matches (their number is the count), then
    the page's rows by primary key, instead of a count and a page query that would each scan the table.
    """
    devices = device_picker(query)
    page: Page[Any]
    if query.terms:
        page = Paginator(list(devices.values_list("pk", flat=True)), per_page).get_page(query.page)
        by_pk = {row["pk"]: row for row in _picker_values(Device.objects.filter(pk__in=page.object_list))}
        rows = [by_pk[pk] for pk in page.object_list if pk in by_pk]
    else:
        # Counted before the customer name is joined in, so the count stays a bare COUNT(*) over an index.
        page = Paginator(devices, per_page).get_page(query.page)
        rows = list(_picker_values(page.object_list))  # type: ignore[arg-type]  # a sliced QuerySet
    _picker_rows_annotate(rows)
    # The paginator counted ids or devices; the page carries their rows.
    return Page(rows, page.number, cast("Paginator[dict[str, Any]]", page.paginator))


def device_picker_row(pk: int) -> dict[str, Any] | None:
    """One device's picker row (for live updates of a row), or None if there is no such device."""
    rows = list(_picker_values(Device.objects.filter(pk=pk)))
    _picker_rows_annotate(rows)
    return rows[0] if rows else None


def _picker_rows_annotate(rows: list[dict[str, Any]]) -> None:
    """Add each row's refusal sentence and its ready-to-print values (no queries)."""
    now = timezone.now()
    kinds = dict(Device.Kind.choices)
    for row in rows:
        row["refusal"] = picker_refusal(row, now)
        # Ready to print, so that 50 rows cost the template no filters and few conditions.
        row["name"] = row["label"] or "(no label)"
        row["type"] = kinds.get(row["kind"], row["kind"])
        row["cores"] = "" if row["cores"] is None else row["cores"]
        row["flagged"] = bool(row["job_pk"] or row["lock_by"] or row["state_undefined"] or row["is_removed"])


def picker_refusal(row: dict[str, Any], now: datetime | None = None) -> str | None:
    """services.device_refusal's sentence for a picker row, from the row alone (tests keep the two in step)."""
    api_id = row["api_id"]
    if row["is_removed"]:
        return f"Device {api_id} is no longer on the account {row['customer']}."
    if row["kind"] != Device.Kind.VOXSERVER:
        return (
            f"Device {api_id} is a VoxCLOUD virtual machine; only VoxSERVERs can be reimaged here "
            "(the API refuses it with error 110)."
        )
    if row["lock_by"] is not None:
        return (
            f"Device {api_id} is locked by {row['lock_by']} since "
            f"{timezone.localtime(row['lock_at']):%Y-%m-%d %H:%M}: {row['lock_reason']}"
        )
    if row["job_pk"] is not None:
        minutes = int(((now or timezone.now()) - row["job_created_at"]).total_seconds() // 60)
        return f"Device {api_id} is busy: reimage #{row['job_pk']} by {row['job_by']}, running {minutes} min."
    return None


def picker_page_links(query: PickerQuery, page: Page[Any]) -> dict[str, str]:
    """Query strings of the first, previous, next and last pages (only those that exist); empty on one page."""
    links = {}
    if page.has_previous():
        links["first"] = query.querystring(page=1)
        links["previous"] = query.querystring(page=page.previous_page_number())
    if page.has_next():
        links["next"] = query.querystring(page=page.next_page_number())
        links["last"] = query.querystring(page=page.paginator.num_pages)
    return links


def picker_facilities() -> list[str]:
    """The facility codes devices are in, for the filter (an index-only scan)."""
    codes = Device.objects.order_by("facility").values_list("facility", flat=True).distinct()
    return [code for code in codes if code]


# --- The device page -----------------------------------------------------------------------------------------------


def device_for_page() -> QuerySet[Device]:
    """Devices with their account, for the device page."""
    return Device.objects.select_related("account")


@dataclass(frozen=True)
class AddressRow:
    """An address a device holds, with the VLAN (and subnet) of its account at its facility that contains it."""

    assignment: IpAssignment
    vlan: Vlan | None
    network: str
    gateway: str


def device_addresses(device: Device) -> list[AddressRow]:
    """The device's addresses, each matched to the account's VLAN subnet at the device's facility (two queries)."""
    vlans = [
        (vlan, ipaddress.ip_network(subnet["network"], strict=False), subnet.get("gateway") or "")
        for vlan in Vlan.objects.filter(account_id=device.account_id, facility=device.facility, is_removed=False)
        for subnet in vlan.subnets
        if _valid_network(subnet.get("network"))
    ]
    rows = []
    for assignment in device.ip_assignments.all():
        address = ipaddress.ip_address(assignment.address)
        # Prefer a VLAN of the same kind when subnets overlap (they should not, but the API is not ours).
        matches = sorted(
            (m for m in vlans if address.version == m[1].version and address in m[1]),
            key=lambda m: (m[0].kind != assignment.kind, -m[1].prefixlen),
        )
        vlan, network, gateway = matches[0] if matches else (None, "", "")
        rows.append(AddressRow(assignment, vlan, str(network), gateway))
    return rows


def _valid_network(raw: Any) -> bool:
    try:
        ipaddress.ip_network(str(raw), strict=False)
    except ValueError:
        return False
    return True


def device_jobs(device: Device, limit: int = 100) -> list[ReimageJob]:
    """The device's reimage jobs, newest first."""
    return list(
        device.jobs.only(
            "device_id", "state", "requested_by_name", "reason", "created_at", "finished_at", "error_message"
        ).order_by("-created_at", "-id")[:limit]
    )


def device_locks(device: Device) -> list[DeviceLock]:
    """The device's locks, current first, then the record of earlier ones."""
    return list(device.locks.select_related("locked_by", "unlocked_by").order_by("-locked_at", "-id"))
