"""Writes and business rules: every change to voxweb's data goes through a function here.

One module per area; import from `reimaging.services` (the names below), not from the modules.
"""

from reimaging.services.inventory import SyncResult, device_refresh, inventory_refresh, inventory_sync, voxel_error_text
from reimaging.services.jobs import (
    SECRET_PARAMS,
    ReimageRefused,
    SubmitOutcome,
    TransitionError,
    active_job_text,
    device_lock,
    device_refusal,
    device_unlock,
    job_cancel,
    job_retry,
    job_submit,
    job_transition,
    jobs_poll,
    jobs_sweep,
    reimage_start,
)
from reimaging.services.users import user_set_role

__all__ = [
    "SECRET_PARAMS",
    "ReimageRefused",
    "SubmitOutcome",
    "SyncResult",
    "TransitionError",
    "active_job_text",
    "device_lock",
    "device_refresh",
    "device_refusal",
    "device_unlock",
    "inventory_refresh",
    "inventory_sync",
    "job_cancel",
    "job_retry",
    "job_submit",
    "job_transition",
    "jobs_poll",
    "jobs_sweep",
    "reimage_start",
    "user_set_role",
    "voxel_error_text",
]
