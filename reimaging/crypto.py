"""Encryption of stored secrets (API secrets, job passwords) with Fernet keys from FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored secret could not be decrypted (wrong or rotated-away key)."""


@cache
def _fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be one or more comma-separated Fernet keys (32 url-safe base64 bytes). "
            'Make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from None


def fernet() -> MultiFernet:
    """The configured Fernet: the first key encrypts, every key decrypts."""
    return _fernet(settings.FIELD_ENCRYPTION_KEY)


def encrypt(plaintext: str) -> str:
    """Encrypt a string into a Fernet token (text)."""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a Fernet token made by encrypt()."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("A stored secret could not be decrypted: was FIELD_ENCRYPTION_KEY changed?") from None


def encrypt_json(data: dict[str, str]) -> str:
    """Encrypt a small dict of secrets."""
    return encrypt(json.dumps(data))


def decrypt_json(token: str) -> dict[str, str]:
    """Decrypt a dict made by encrypt_json (empty token: empty dict)."""
    if not token:
        return {}
    value = json.loads(decrypt(token))
    return {str(k): str(v) for k, v in value.items()}
