"""Forms: the reimage form and its review token (reimage.py), and the actions on a job (jobs.py)."""

from reimaging.forms.jobs import JobRetryForm
from reimaging.forms.reimage import (
    INLINE_FIELDS,
    IP_FIELDS,
    REVIEW_MAX_AGE,
    ConfirmForm,
    ReimageForm,
    ReviewPayload,
    ReviewTokenError,
    review_token_make,
    review_token_read,
)

__all__ = [
    "INLINE_FIELDS",
    "IP_FIELDS",
    "REVIEW_MAX_AGE",
    "ConfirmForm",
    "JobRetryForm",
    "ReimageForm",
    "ReviewPayload",
    "ReviewTokenError",
    "review_token_make",
    "review_token_read",
]
