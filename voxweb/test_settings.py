"""Settings for the test suite: production settings with throwaway secrets filled in.

DEBUG stays off so tests see what production does; only the values production must be given are set here,
and only where the environment does not set them already (CI sets DATABASE_URL for the PostgreSQL run).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "t" * 40)
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "dGVzdC1vbmx5LWluc2VjdXJlLWZlcm5ldC1rZXktMDA=")
os.environ.setdefault("VOXEL_API_URL", "http://127.0.0.1:9/version/1.0/")
os.environ.setdefault("VOXEL_API_KEY", "staff-key")
os.environ.setdefault("VOXEL_API_SECRET", "staff-secret")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
# Tests that need Redis start their own server and point REDIS_URL at it; the default is a closed port.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")

from voxweb.settings import *  # noqa: F403

# One test database per pytest process, so two runs on one machine never share (and clobber) it.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": (
        str(VAR_DIR / f"test-voxweb-{os.getpid()}.sqlite3")  # noqa: F405
        if DATABASES["default"]["ENGINE"].endswith("sqlite3")  # noqa: F405
        else f"test_voxweb_{os.getpid()}"
    )
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing: tests log in a lot
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
