"""Settings for voxweb, all read from the environment (see README, "Configuration")."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VOXWEB_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    """A string from the environment, stripped."""
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    """A boolean from the environment: 1/true/yes/on are true."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """An integer from the environment, with the variable named when it is not one."""
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    """A comma-separated list from the environment."""
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")


def env_secret(name: str, *, dev_default: str) -> str:
    """A secret that production must set; in DEBUG a throwaway value stands in."""
    value = env_str(name)
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. voxweb refuses to start without it when DEBUG is off; "
        "set it in the environment (see README, Configuration)."
    )


SECRET_KEY = env_secret("SECRET_KEY", dev_default="dev-only-insecure-secret-key-" + "x" * 40)
# Fernet key(s), comma-separated: the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEY = env_secret("FIELD_ENCRYPTION_KEY", dev_default="ZGV2LW9ubHktaW5zZWN1cmUtZmVybmV0LWtleS0wMDA=")

VOXEL_API_URL = env_secret("VOXEL_API_URL", dev_default="http://127.0.0.1:8081/version/1.0/")
VOXEL_API_KEY = env_secret("VOXEL_API_KEY", dev_default="staff-key")
VOXEL_API_SECRET = env_secret("VOXEL_API_SECRET", dev_default="staff-secret")
VOXEL_CUSTOMER_ID = env_str("VOXEL_CUSTOMER_ID") or None
VOXEL_TIMEOUT = (3.05, float(env_int("VOXEL_READ_TIMEOUT", 30)))

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set. Name the host names voxweb is served under.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    # Before reimaging: axes connects its login-failure receiver first, so ours sees what axes decided.
    "axes",
    "csp",
    "reimaging",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "reimaging.middleware.reject_nul_middleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "reimaging.audit.current_request_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a login refused for lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "voxweb.urls"
WSGI_APPLICATION = "voxweb.wsgi.application"
ASGI_APPLICATION = "voxweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reimaging.context_processors.layout",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'voxweb.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        # With persistent connections, one the server dropped (a PostgreSQL restart) is replaced, not reused.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE takes the write lock at BEGIN so two
    # writers queue on the busy timeout instead of failing with "database is locked" mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so that worker and web subprocesses in the tests open the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-voxweb.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "voxweb",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks every login (the login page and the admin's) before the password is: after
# AXES_FAILURE_LIMIT failures for one username from one address, that pair is refused for AXES_COOLOFF_TIME,
# counted from the last failure. A refused attempt does not extend it, so the time the lockout page gives holds.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The address the audit log records (REMOTE_ADDR; a proxy in front must set it), never a client-sent header.
AXES_CLIENT_IP_CALLABLE = "reimaging.audit.client_ip"
AXES_LOCKOUT_CALLABLE = "reimaging.middleware.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
# Whom the lockout page tells a locked-out user to ask.
LOGIN_LOCKOUT_CONTACT = env_str("LOGIN_LOCKOUT_CONTACT", "a voxweb admin")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "device_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG or env_bool("WHITENOISE_USE_FINDERS")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security: strict in production, relaxed only where DEBUG serves plain HTTP on loopback.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = not DEBUG and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy: nothing inline, nothing from elsewhere. The templates carry no inline script or style
# (htmx's own indicator <style> is switched off in base.html); the Django admin needs nothing more either.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Celery: JSON only (tasks carry ids), one message per worker process at a time, bounded runtimes.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Countdowns stay far below this, so a delayed message is never redelivered while it waits.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REIMAGE_POLL_INTERVAL = env_int("REIMAGE_POLL_INTERVAL", 10)
REIMAGE_DEADLINE_MINUTES = env_int("REIMAGE_DEADLINE_MINUTES", 60)
REIMAGE_SUBMIT_MAX_ATTEMPTS = env_int("REIMAGE_SUBMIT_MAX_ATTEMPTS", 5)
REIMAGE_STUCK_AFTER_SECONDS = env_int("REIMAGE_STUCK_AFTER_SECONDS", 300)
REIMAGE_POSTINSTALL_MAX_BYTES = env_int("REIMAGE_POSTINSTALL_MAX_BYTES", 64 * 1024)
INVENTORY_SYNC_INTERVAL = env_int("INVENTORY_SYNC_INTERVAL", 300)
HEALTH_HEARTBEAT_MAX_AGE = env_int("HEALTH_HEARTBEAT_MAX_AGE", 90)
REIMAGE_HISTORY_RETENTION_DAYS = env_int("REIMAGE_HISTORY_RETENTION_DAYS", 365)

CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "reimaging.tasks.heartbeat_write", "schedule": timedelta(seconds=20)},
    "jobs-poll": {
        "task": "reimaging.tasks.jobs_poll",
        "schedule": timedelta(seconds=REIMAGE_POLL_INTERVAL),
        # A poll that waited longer than its interval is stale; the next one is already due.
        "options": {"expires": REIMAGE_POLL_INTERVAL},
    },
    "jobs-sweep": {"task": "reimaging.tasks.jobs_sweep", "schedule": timedelta(seconds=60)},
    "inventory-sync": {
        "task": "reimaging.tasks.inventory_sync",
        "schedule": timedelta(seconds=INVENTORY_SYNC_INTERVAL),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Request bodies are never logged; django.request logs only the path and status.
        "django.request": {"level": "WARNING"},
    },
}
