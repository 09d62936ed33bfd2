"""OneFact settings: one module, every environment differs only in its env values.

Required in production: ``DJANGO_SECRET_KEY``. Everything else has an embedded
default (SQLite file, Celery tasks in-process) so ``make run`` works with no services.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The embedded default (DEBUG on) may run without a secret; production must set one.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="" if not DEBUG else "insecure-embedded-default-key")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local use).")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

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
    "ninja",
    "axes",
    "inventory",
    "returns",
    "replenishment",
    "driftwalks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "inventory.middleware.UserLanguageMiddleware",
    "inventory.middleware.RefuseControlCharactersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Login is rate-limited against guessing (django-axes): after AXES_FAILURE_LIMIT failures
# for one username from one address, that pair is locked out for the cool-off time.
# Django's ModelBackend, loading the user with their preferences in the one query.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "inventory.auth_backends.ModelBackend",
]
AXES_ENABLED = env.bool("ONEFACT_LOGIN_RATE_LIMIT", default=True)
AXES_FAILURE_LIMIT = env.int("ONEFACT_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ONEFACT_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("DJANGO_PROXY_COUNT", default=0) or None
# No "AXES: BEGIN" banner on every command; lockouts still log a warning (see LOGGING).
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "inventory.context_processors.role",
                "inventory.context_processors.breaker",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env.bool(
    "ONEFACT_PG_JIT", default=False
):
    # Short OLTP statements and page aggregates: PostgreSQL's JIT compiles for longer than
    # they run (measured: seconds on the coverage query, most of a dashboard request).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The write path's statements are prepared once per connection (inventory.services.stock:
    # planning them cost more than running them). Django's own cursors bind on the client
    # and never prepare, so this reaches only those. Django leaves it off for transaction-
    # pooling proxies, which the reconciliation's temporary tables already rule out.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite: wait for the writer lock instead of failing at once; one writer at a time.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
    # The dashboard's covering indexes (INCLUDE) are PostgreSQL's; SQLite indexes their key
    # columns alone, which is all the embedded default needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Mail, e.g. smtp+tls://user:password@host:587 or consolemail://. Password reset is
# offered only when mail can go out: without DJANGO_EMAIL_URL its pages answer 404 and the
# login page says to ask an admin. A reset is limited per client address and per account.
EMAIL_URL = env("DJANGO_EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(env.email_url_config(EMAIL_URL))
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="onefact@localhost")
ONEFACT_PASSWORD_RESET = bool(EMAIL_URL)
ONEFACT_PASSWORD_RESET_LIMIT = env.int("ONEFACT_PASSWORD_RESET_LIMIT", default=5)
# The cache holds the password-reset rate limits. The default is each process's own memory,
# so with several web workers each counts alone: production sets a shared one, e.g.
# DJANGO_CACHE_URL=redis://redis:6379/1 (a database of its own, not Celery's broker).
CACHES = {"default": env.cache_url("DJANGO_CACHE_URL", default="locmemcache://")}

# Staff pages are translated (config/locale/, compiled by `manage.py compile_catalogues`).
# The language is the user's own choice (their profile), else the browser's, else English.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves hashed, compressed files built by collectstatic; the embedded
# default and the tests serve straight from the source folders.
STATIC_MANIFEST = env.bool("DJANGO_STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
# Files browsers ask for at the site's root (/favicon.ico), served as they are.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

# Security: production values pass ``manage.py check --deploy``; the embedded default
# (DEBUG on, plain HTTP on loopback) switches the HTTPS-only parts off.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Redis: Celery's broker when set (see below); logging depends on it too.
REDIS_URL = env("REDIS_URL", default="")

# INFO stays quiet for a newcomer: django-axes logs every login in several lines (its
# warnings — repeated failures, lockouts — still show), and a task run in-process would log
# its result dict into the command's output (a worker, with REDIS_URL, still logs each task).
# DJANGO_LOG_LEVEL=DEBUG shows them all.
LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
_QUIET_AT_INFO = ["axes"] + ([] if REDIS_URL else ["celery.app.trace"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        name: {"level": "WARNING"} for name in _QUIET_AT_INFO if LOG_LEVEL.upper() != "DEBUG"
    },
}

# Celery: Redis as broker when REDIS_URL is set; without it tasks run in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
# A message taken by a worker that dies whole (not just its pool child) is delivered again
# after this long. Keep it above the longest task and the longest retry countdown, or a
# running task is handed to a second worker; short values are for the fault tests.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE

# OneFact domain settings.
# The event that changes on-hand for orders: "ship" (default) or "order". It seeds the
# ownership table's truth moment for on-hand; the table is what the code reads.
ONEFACT_TRUTH_MOMENT = env("ONEFACT_TRUTH_MOMENT", default="ship")

# Printed labels: the default format (a4-3x8, letter-3x8, 62x29mm, 2x1in); a print may pick
# another. inventory.labels.FORMATS lists them.
ONEFACT_LABEL_FORMAT = env("ONEFACT_LABEL_FORMAT", default="a4-3x8")

# Storefront sync. Pushes are coalesced: a commit when no drain is under way is drained at
# once; in a burst a drain starts at most once per this window (or when the one before ends).
# 0.2 s keeps a 10,000-movement burst within 100 storefront calls on this kind of machine
# (0.1 s halves the burst's lag but doubles the calls: README, Performance).
ONEFACT_PUSH_COALESCE_SECONDS = env.float("ONEFACT_PUSH_COALESCE_SECONDS", default=0.2)
ONEFACT_PUSH_KICK_TTL = env.int("ONEFACT_PUSH_KICK_TTL", default=10)
ONEFACT_PUSH_MAX_BATCHES = env.int("ONEFACT_PUSH_MAX_BATCHES", default=200)
# Reconciliation: a gap above this many units, or the same SKU disagreeing again within
# the window, asks for a count of the bins holding it.
ONEFACT_RECONCILE_TOLERANCE = env.int("ONEFACT_RECONCILE_TOLERANCE", default=2)
ONEFACT_RECONCILE_REPEAT_HOURS = env.int("ONEFACT_RECONCILE_REPEAT_HOURS", default=24)
ONEFACT_RECONCILE_RANGE_SIZE = env.int("ONEFACT_RECONCILE_RANGE_SIZE", default=5000)
# Shopify: a read of more levels than this (a catalog of more variants, or a longer SKU list)
# goes through one bulk operation instead of pages of 250.
ONEFACT_SHOPIFY_BULK_ABOVE = env.int("ONEFACT_SHOPIFY_BULK_ABOVE", default=2000)
# The circuit breaker of a live storefront: a run that would set more than this many SKUs to
# zero (or 5 % of the catalog, if that is more), or lower the storefront's units by more than
# this percentage, sends nothing and waits for a manager.
ONEFACT_BREAKER_ZERO_SKUS = env.int("ONEFACT_BREAKER_ZERO_SKUS", default=20)
ONEFACT_BREAKER_DROP_PERCENT = env.float("ONEFACT_BREAKER_DROP_PERCENT", default=20.0)
# Count approvals: whoever counted or recounted a task never decides it. On, a manager who
# counted it may decide it anyway when nobody else active may approve counts (a warehouse with
# one manager), after ticking a second confirmation; the task records it.
ONEFACT_COUNT_SOLE_MANAGER = env.bool("ONEFACT_COUNT_SOLE_MANAGER", default=False)

# Storefront secrets entered on the connect page (token, webhook secret) are stored encrypted
# with this Fernet key (make one: python -c "from cryptography.fernet import Fernet;
# print(Fernet.generate_key().decode())"); several keys, comma-separated, rotate: the first
# encrypts, all decrypt. Unset: the page stores no secret and asks for the environment's
# STOREFRONT_<NAME>_TOKEN / STOREFRONT_<NAME>_WEBHOOK_SECRET, which win over stored ones anyway.
ONEFACT_SECRETS_KEY = env("ONEFACT_SECRETS_KEY", default="")

# Webhooks: a delivery issued longer ago than this is refused (an old delivery or a replay).
# Unset: each storefront's own redelivery window (demo 5 min, Saleor 15 min, Shopify 4 h 15 min),
# since a retry keeps its first timestamp and refusing it would lose the event. A delivery dated
# more than the skew ahead of our clock is refused too.
ONEFACT_WEBHOOK_MAX_AGE_SECONDS = env.int("ONEFACT_WEBHOOK_MAX_AGE_SECONDS", default=None)
ONEFACT_WEBHOOK_CLOCK_SKEW_SECONDS = env.int("ONEFACT_WEBHOOK_CLOCK_SKEW_SECONDS", default=60)
# Inbox: an event whose processing raises is tried again with backoff (30 s doubling, capped
# at an hour) this many times in all, then parked as failed for a manager to retry.
ONEFACT_INBOX_MAX_ATTEMPTS = env.int("ONEFACT_INBOX_MAX_ATTEMPTS", default=8)

# Drift walks. Thresholds of a count's variance (counted − the shelf's balance at the moment
# of the count): within tolerance (|variance| ≤ TOLERANCE_UNITS and ≤ TOLERANCE_PERCENT % of
# the balance) the correction is applied at once; past it, a blind recount by a different
# person; past APPROVAL_UNITS units or APPROVAL_VALUE at cost (after the recount), a manager
# approves or rejects it with a reason.
ONEFACT_COUNT_TOLERANCE_UNITS = env.int("ONEFACT_COUNT_TOLERANCE_UNITS", default=2)
ONEFACT_COUNT_TOLERANCE_PERCENT = env.float("ONEFACT_COUNT_TOLERANCE_PERCENT", default=10.0)
ONEFACT_COUNT_APPROVAL_UNITS = env.int("ONEFACT_COUNT_APPROVAL_UNITS", default=10)
ONEFACT_COUNT_APPROVAL_VALUE = Decimal(env.str("ONEFACT_COUNT_APPROVAL_VALUE", default="200"))
# Cycle counts by sell-through class: how often a bin+SKU pair of each class is counted.
ONEFACT_CYCLE_DAYS_A = env.int("ONEFACT_CYCLE_DAYS_A", default=30)
ONEFACT_CYCLE_DAYS_B = env.int("ONEFACT_CYCLE_DAYS_B", default=91)
ONEFACT_CYCLE_DAYS_C = env.int("ONEFACT_CYCLE_DAYS_C", default=182)
# Class by units shipped over this many days: top 20 % of SKUs = A, next 30 % = B, rest C.
ONEFACT_CYCLE_SALES_DAYS = env.int("ONEFACT_CYCLE_SALES_DAYS", default=90)
ONEFACT_CYCLE_SHARE_A = env.float("ONEFACT_CYCLE_SHARE_A", default=0.20)
ONEFACT_CYCLE_SHARE_B = env.float("ONEFACT_CYCLE_SHARE_B", default=0.30)
# At most this many cycle tasks are opened per run (A first, longest uncounted first).
ONEFACT_CYCLE_MAX_PER_RUN = env.int("ONEFACT_CYCLE_MAX_PER_RUN", default=500)
ONEFACT_CYCLE_DUE_DAYS = env.int("ONEFACT_CYCLE_DUE_DAYS", default=7)
# "Start my walk" pulls at most this many of the oldest due open tasks.
ONEFACT_WALK_SIZE = env.int("ONEFACT_WALK_SIZE", default=20)

# Returns: expected units not arrived this many days after the return was authorised are
# flagged late. Transient failures to tell the storefront an outcome are retried with backoff
# (at most BACKOFF_MAX seconds between tries) MAX_ATTEMPTS times, then kept as not sent.
ONEFACT_RETURNS_LATE_DAYS = max(1, env.int("ONEFACT_RETURNS_LATE_DAYS", default=14))
ONEFACT_RETURNS_OUTCOME_MAX_ATTEMPTS = max(
    1, env.int("ONEFACT_RETURNS_OUTCOME_MAX_ATTEMPTS", default=10)
)
ONEFACT_RETURNS_OUTCOME_BACKOFF_MAX = max(
    1, env.int("ONEFACT_RETURNS_OUTCOME_BACKOFF_MAX", default=3600)
)

# Replenishment: the trailing window, in whole days, over which sell-through is measured.
ONEFACT_REPLENISHMENT_WINDOW_DAYS = env.int("ONEFACT_REPLENISHMENT_WINDOW_DAYS", default=28)
if ONEFACT_REPLENISHMENT_WINDOW_DAYS < 1:
    raise environ.ImproperlyConfigured("ONEFACT_REPLENISHMENT_WINDOW_DAYS must be at least 1.")

CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "inventory.tasks.sweep_outbox_task", "schedule": 30.0},
    "sweep-inbox": {"task": "inventory.tasks.sweep_inbox_task", "schedule": 60.0},
    "reconcile-storefronts": {
        "task": "inventory.tasks.reconcile_storefronts_task",
        "schedule": env.float("ONEFACT_RECONCILE_EVERY_SECONDS", default=600.0),
    },
    "pull-catalog": {"task": "inventory.tasks.pull_catalog_task", "schedule": 3600.0},
    # The apps built on inventory (each task is defined in <app>/tasks.py).
    "returns-flag-late": {"task": "returns.tasks.flag_late_returns_task", "schedule": 3600.0},
    "returns-send-outcomes": {
        "task": "returns.tasks.send_return_outcomes_task",
        "schedule": 60.0,
    },
    "replenishment-fold-sales-history": {
        "task": "replenishment.tasks.fold_sales_history_task",
        "schedule": 60.0,
    },
    "replenishment-ghost-rows": {
        "task": "replenishment.tasks.detect_ghost_rows_task",
        "schedule": 6 * 3600.0,
    },
    "driftwalks-cycle-counts": {
        "task": "driftwalks.tasks.open_cycle_counts_task",
        "schedule": 24 * 3600.0,
    },
    "driftwalks-escalate": {"task": "driftwalks.tasks.escalate_overdue_task", "schedule": 900.0},
}
