"""PipeAccess settings.

Everything comes from the environment (see pipeaccess/env.py). With nothing
set the app runs on SQLite and a filesystem Celery broker under var/, so a
newcomer needs nothing but Python. DATABASE_URL switches to PostgreSQL,
REDIS_URL to Redis for the broker and the cache. PIPEACCESS_ENV=production
turns on the hardened settings checked by `manage.py check --deploy`.
"""

import os
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from .env import database_from_url, env_bool, env_float, env_int, env_list, env_secret, env_str
from .redact import install_record_factory

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PIPEACCESS_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

ENVIRONMENT = env_str("PIPEACCESS_ENV", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(f"PIPEACCESS_ENV={ENVIRONMENT!r}: use development or production")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", not PRODUCTION)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required in production")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105 (refused above)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pipeaccess",
    "connectors",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files carry the CSP (and its frame-ancestors) too (tests/security/test_headers.py).
    "pipeaccess.middleware.ContentSecurityPolicyMiddleware",
    # Next, as WhiteNoise documents: static files skip the rest of the stack.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Records every 403 not recorded where it was decided (CSRF failures, per-object refusals).
    "pipeaccess.auth_audit.AccessDeniedAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # A security-role user without two-factor authentication only reaches the two-factor setup (pipeaccess.mfa).
    "pipeaccess.middleware.SecurityRoleMFAMiddleware",
    "pipeaccess.middleware.RotateSessionOnReauthenticationMiddleware",
]

ROOT_URLCONF = "pipeaccess.urls"
WSGI_APPLICATION = "pipeaccess.wsgi.application"

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
                "pipeaccess.roles.roles_context",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
    # Connections are kept for a minute and health-checked before each request reuses one (env.py), so after a
    # database restart the same web and worker processes reconnect by themselves. A database host that drops
    # packets must not hold a web worker for the kernel's TCP timeout (minutes): connecting gives up after this
    # long and the request gets a 503 (pipeaccess/db_outage.py).
    DATABASES["default"]["OPTIONS"] = {"connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "pipeaccess.sqlite3")),
            # Sync workers and the web process share one file: wait for locks
            # instead of failing, and let readers proceed during a write.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
            # A file, not memory: tests start real Celery workers that must see the same database
            # (they are given its path). One file per test process, so two test runs never share one.
            "TEST": {"NAME": str(VAR_DIR / f"test-pipeaccess-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
# Bodies and ETags of upstream API responses, for conditional requests (connectors/http.py).
# Entries expire after 30 days (set by the client); MAX_ENTRIES bounds the file cache.
if REDIS_URL:
    CACHES["http"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "http",
    }
else:
    CACHES["http"] = {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "http-cache"),
        "OPTIONS": {"MAX_ENTRIES": 2_000_000},
    }

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "none"
# Accounts are created by the security team (manage.py user create), never by sign-up.
ACCOUNT_ADAPTER = "pipeaccess.roles.NoSignupAdapter"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "PipeAccess"
# The security role needs a TOTP authenticator before any page or API call (pipeaccess.mfa); off only for development.
SECURITY_REQUIRES_MFA = env_bool("SECURITY_REQUIRES_MFA", True)
if PRODUCTION and not SECURITY_REQUIRES_MFA:
    raise ImproperlyConfigured("SECURITY_REQUIRES_MFA cannot be turned off in production")
# Changing where a connector connects or with which secret needs an authentication this recent (connectors.views).
ACCOUNT_REAUTHENTICATION_TIMEOUT = env_int("REAUTHENTICATION_TIMEOUT_SECONDS", 300)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing directory before the first collectstatic
# The app serves its own (vendored, pinned) assets through WhiteNoise: no CDN, no separate web server.
# Finders on: pages work straight from the source tree, with or without `manage.py collectstatic`
# (which adds pre-compressed copies for production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_MAX_AGE = 3600
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# pipeaccess.middleware.ContentSecurityPolicyMiddleware: no inline script or style anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ]
)
X_FRAME_OPTIONS = "DENY"

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# Secrets are masked as records are made, before any handler (ours, Celery's, a test's) sees them.
install_record_factory()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "pipeaccess.redact.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # urllib3 logs full URLs at DEBUG; keep it quiet so nothing upstream-specific leaks.
    "loggers": {"urllib3": {"level": "WARNING"}},
}

# --- Celery -----------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "results").mkdir(parents=True, exist_ok=True)
    # A host name only silences kombu's "No hostname was supplied" warning; the transport ignores it.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir),
        "store_processed": False,
        # Exchange bindings (remote control, events): kombu's default is ./control, relative to
        # each process's working directory, so processes started elsewhere would not see each other.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery' / 'results'}"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# The queue tasks go to and workers read by default: separate deployments (or test runs) sharing one broker.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# One table for every periodic job: name -> task, default schedule, expiry.
# Per-connector sync schedules live in the database (Connector.sync_interval);
# this beat entry only wakes the dispatcher that reads them.
CELERY_BEAT_SCHEDULE = {
    "sync-due-connectors": {
        "task": "connectors.tasks.sync_due_connectors",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Template schedules, deadlines and escalations live in the database; this only wakes the clock.
    "campaign-tick": {
        "task": "reviews.tasks.campaigns.campaign_tick",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Revocations left queued by a lost broker message are sent again from the database outbox.
    "reconcile-revocations": {
        "task": "reviews.tasks.revocations.reconcile_revocations",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
    # Signed (seq, head hash) checkpoints outside the database: truncation and full rewrites show (reviews.audit).
    "audit-checkpoint": {
        "task": "reviews.tasks.audit.write_audit_checkpoint",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 540},
    },
}

# --- REST API (pipeaccess/api) -------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pipeaccess.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Signed in, and a read-only token only reads; each view adds who may see its objects.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "pipeaccess.api.permissions.TokenScope",
        "pipeaccess.api.permissions.SecurityRoleHasMFA",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PipeAccess API",
    "DESCRIPTION": "Who can touch the CI/CD pipeline: inventory, review campaigns, decisions, revocations, audit.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.IsAuthenticated",
        "pipeaccess.api.permissions.SecurityRoleHasMFA",
    ],
    # Swagger UI's files come from the drf-spectacular-sidecar package, served by the app: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- PipeAccess ---------------------------------------------------------------
# Share of current grants a complete sync may remove before it is held for review.
SYNC_REMOVAL_THRESHOLD = env_float("SYNC_REMOVAL_THRESHOLD", 0.20)
# A running sync with no heartbeat for this long is considered dead and its claim released.
SYNC_STALE_AFTER_SECONDS = env_int("SYNC_STALE_AFTER_SECONDS", 900)
HTTP_TIMEOUT_SECONDS = env_float("HTTP_TIMEOUT_SECONDS", 30.0)
HTTP_MAX_RETRIES = env_int("HTTP_MAX_RETRIES", 4)
HTTP_MAX_CONCURRENCY = env_int("HTTP_MAX_CONCURRENCY", 8)
# Longest single wait for a rate-limit reset (an hourly window plus a margin); longer fails the run.
HTTP_MAX_RATE_LIMIT_WAIT_SECONDS = env_int("HTTP_MAX_RATE_LIMIT_WAIT_SECONDS", 3660)
# Run after each applied sync, in order, each in its own transaction (connectors.sync.run_applied_hooks).
SYNC_APPLIED_HOOKS = [
    "connectors.correlation.after_sync",
    "connectors.owners.after_sync",
    "connectors.risk.after_sync",
    "reviews.campaigns.after_sync",
    "reviews.revocations.after_sync",
]
# Reviews: unchanged approvals at or below this risk score may be carried forward (template carry_forward);
# approving an item at or above REVIEW_HIGH_RISK_SCORE needs a justification.
CARRY_FORWARD_MAX_RISK = env_int("CARRY_FORWARD_MAX_RISK", 20)
REVIEW_HIGH_RISK_SCORE = env_int("REVIEW_HIGH_RISK_SCORE", 50)
# Risk signals (connectors.risk): days without activity before a human account is "inactive" and a non-human
# one "unused" (where the upstream reports activity), and weight overrides "code=weight,code=weight".
RISK_INACTIVE_DAYS = env_int("RISK_INACTIVE_DAYS", 90)
RISK_NONHUMAN_UNUSED_DAYS = env_int("RISK_NONHUMAN_UNUSED_DAYS", 90)
RISK_WEIGHTS = {}
for _item in env_list("RISK_WEIGHTS", []):
    _code, _sep, _weight = _item.partition("=")
    if not _sep or not _weight.strip().isdigit():
        raise ImproperlyConfigured(f"RISK_WEIGHTS item {_item!r}: use code=weight, e.g. leaver=50")
    RISK_WEIGHTS[_code.strip()] = int(_weight)
# Revocations (reviews.revocations): writes per connector across every worker ("N/s", "N/m" or "N/h"),
# retries of transient upstream errors (exponential backoff with jitter, seconds), and how often an
# attempt whose worker died may be resumed before the revocation is failed for a person to look at.
REVOCATION_RATE_LIMIT = env_str("REVOCATION_RATE_LIMIT", "30/m")
_count, _, _unit = REVOCATION_RATE_LIMIT.partition("/")
if not _count.isdigit() or int(_count) == 0 or _unit not in ("s", "m", "h"):
    raise ImproperlyConfigured(f"REVOCATION_RATE_LIMIT={REVOCATION_RATE_LIMIT!r}: use N/s, N/m or N/h, e.g. 30/m")
REVOCATION_MAX_RETRIES = env_int("REVOCATION_MAX_RETRIES", 6)
REVOCATION_RETRY_BACKOFF = env_float("REVOCATION_RETRY_BACKOFF", 30.0)
REVOCATION_RETRY_BACKOFF_MAX = env_float("REVOCATION_RETRY_BACKOFF_MAX", 3600.0)
REVOCATION_MAX_ATTEMPTS = env_int("REVOCATION_MAX_ATTEMPTS", 5)
# A task whose send slot is further away than this is re-sent for later instead of sleeping in the worker.
REVOCATION_THROTTLE_MAX_SLEEP = env_float("REVOCATION_THROTTLE_MAX_SLEEP", 10.0)
# A revocation queued for this long (after its expected retry time, if it is waiting for one) lost its message:
# the reconciler (beat, every 5 minutes) enqueues it again.
REVOCATION_RECONCILE_AFTER_SECONDS = env_float("REVOCATION_RECONCILE_AFTER_SECONDS", 600.0)
# A delivery that finds the revocation locked by another process looks again after this long.
REVOCATION_BUSY_RETRY_SECONDS = env_float("REVOCATION_BUSY_RETRY_SECONDS", 5.0)
# The audit chain's HMAC key lives outside the database (reviews.audit). Development: a key file under var/.
AUDIT_KEY = env_secret("AUDIT_KEY")
AUDIT_KEY_PATH = Path(env_str("AUDIT_KEY_PATH", str(VAR_DIR / "audit.key")))
if PRODUCTION and not AUDIT_KEY:
    raise ImproperlyConfigured("AUDIT_KEY (or AUDIT_KEY_FILE) is required in production")
# Tokens pasted into PipeAccess are encrypted (Fernet) under keys kept outside the database (connectors.secrets):
# PIPEACCESS_SECRETS_KEYS, comma-separated, newest first. Development: a key file under var/. Production: storing
# or reading such a token without a configured key fails with an error saying so.
SECRETS_KEYS = [k for k in env_secret("PIPEACCESS_SECRETS_KEYS").split(",") if k.strip()]
SECRETS_KEY_PATH = Path(env_str("PIPEACCESS_SECRETS_KEY_PATH", str(VAR_DIR / "secrets.keys")))
# Signed checkpoints (sequence, head hash) go here, outside the database.
AUDIT_CHECKPOINT_DIR = Path(env_str("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit-checkpoints")))

# --- Mail (reviews/emails.py, reviews/mailer.py) --------------------------------
# With EMAIL_HOST set, mail goes out by SMTP. Without it (development, the demo) every message is written as a
# file under var/mail/ (Django's file backend): nothing leaves the machine and the sent mails can be read there.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587 if env_bool("EMAIL_USE_TLS", False) else 25)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL (implicit TLS) exclude each other")
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
# The password comes from EMAIL_HOST_PASSWORD or the file named by EMAIL_HOST_PASSWORD_FILE, and is masked in logs.
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
if EMAIL_HOST_PASSWORD:
    from .redact import register_secret

    register_secret(EMAIL_HOST_PASSWORD)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 30.0)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "PipeAccess <pipeaccess@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_FILE_PATH = str(VAR_DIR / "mail" / "sent")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend",
)
# Transient SMTP errors are retried after 1, 2, 4 … times this (capped at an hour), up to EMAIL_MAX_ATTEMPTS.
EMAIL_RETRY_BACKOFF_SECONDS = env_float("EMAIL_RETRY_BACKOFF_SECONDS", 60.0)
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 8)

if PRODUCTION:
    if not ALLOWED_HOSTS:
        # Django would answer every request with 400; say why at start-up instead.
        raise ImproperlyConfigured("ALLOWED_HOSTS is required in production (comma-separated host names)")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host-: the browser only accepts them over HTTPS, for this host and path / (no subdomain can set them).
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Sessions are read from the cache and written through to the database (a cache miss or restart reads the
# database): one query less per page. Logout and key rotation delete the cache entry with the row.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SECURE_REFERRER_POLICY = "same-origin"
