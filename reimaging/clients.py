"""Building hAPI clients for accounts, with every call recorded as an ApiCall row."""

from __future__ import annotations

from django.conf import settings

from reimaging.models import Account, ApiCall, ReimageJob
from reimaging.voxel import CallRecord, Client

RESPONSE_BODY_CAP = 4096


def client_for(
    account: Account,
    *,
    job: ReimageJob | None = None,
    timeout: tuple[float, float] | None = None,
    record: bool = True,
) -> Client:
    """A client acting for the account; with record, each call appends an ApiCall (linked to the job, if any)."""

    def on_call(call: CallRecord) -> None:
        ApiCall.objects.create(
            account=account,
            job=job,
            method=call.method,
            params=dict(call.params),
            duration_ms=round(call.duration * 1000, 1),
            http_status=call.http_status,
            stat=call.stat or "",
            error_code=call.error_code,
            error_message=call.error_message or "",
            response_body=(call.response_body or "")[:RESPONSE_BODY_CAP],
        )

    return Client(
        account.api_url,
        account.api_key,
        account.api_secret,
        customer_id=account.customer_id or None,
        timeout=timeout or settings.VOXEL_TIMEOUT,
        on_call=on_call if record else None,
    )
