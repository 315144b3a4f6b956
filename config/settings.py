"""The only settings module. Every value comes from the environment (see `.env.example`).

With no environment at all the app runs in the embedded mode: SQLite in WAL mode, a local-memory
cache and Celery on the `filesystem://` broker under the data folder. `DJANGO_ENV=production`
requires `SECRET_KEY`, `DATABASE_URL` and `ALLOWED_HOSTS` and turns on the secure defaults.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

# --- Paths ---------------------------------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
DATA_DIR = Path(env("DATA_DIR", default=str(BASE_DIR / "var")))

DJANGO_ENV = env("DJANGO_ENV", default="") or "embedded"
if DJANGO_ENV not in {"embedded", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'embedded' or 'production', not {DJANGO_ENV!r}.")
PRODUCTION = DJANGO_ENV == "production"


if PRODUCTION:
    _missing = [name for name in ("SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS") if not env(name, default="")]
    if _missing:
        raise ImproperlyConfigured(
            f"DJANGO_ENV=production refuses to start without {', '.join(_missing)}: "
            "set them in the environment (see .env.example)."
        )

SECRET_KEY = env("SECRET_KEY", default="embedded-not-secret")
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters.")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
APP_VERSION = env("APP_VERSION", default="0.1.0")
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

# --- Applications --------------------------------------------------------------------------------
# Each data source is one app; this list is the provider registry (integrations.registry).
PROVIDER_APPS: list[str] = [
    "integrations.providers.fitbit",
    "integrations.providers.oura",
    "integrations.providers.strava",
    "integrations.providers.whoop",
    "integrations.providers.withings",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "allauth.headless",
    "allauth.usersessions",
    "allauth.socialaccount.providers.strava",  # Strava connects through allauth's own provider
    "users",
    "preferences",
    "healthdata",
    "integrations",
    "imports",
    "integrations.sandbox",
    *PROVIDER_APPS,
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "config.middleware.ApiErrorMiddleware",
    "config.request_limits.NestedJsonMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "csp.context_processors.nonce",
                "integrations.context_processors.connections_needing_user",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while the worker writes; IMMEDIATE avoids upgrade deadlocks.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, locks and rate-limit counters -------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",  # Django's, with one redis-py client per pool
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="hfa"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in the database; with Redis, requests read them from the cache (config.sessions).
# Redis then holds session keys, so it needs the database's protection (it already holds cached
# health data and the task queue). The local-memory cache is not shared between processes: without
# Redis, sessions are read from the database alone.
SESSION_ENGINE = "config.sessions" if REDIS_URL else "django.contrib.sessions.backends.db"

# --- Celery --------------------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
# "localhost" only keeps kombu from warning about a missing host on every connection. An empty value
# (as in a copy of .env.example) means the default, here and below.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in (BROKER_DIR / "queue", BROKER_DIR / "processed", BROKER_DIR / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # exchange tables; kombu's default is the cwd
        "store_processed": False,
    }
else:
    # Unacknowledged tasks of a dead worker come back after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        "socket_connect_timeout": 2,
    }
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ("imports", "sync", "default")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BEAT_SCHEDULE["purge-expired-exports"] = {
    "task": "users.tasks.purge_expired_exports_task",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["requeue-stalled-imports"] = {
    "task": "imports.tasks.requeue_stalled_imports_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["purge-abandoned-uploads"] = {
    "task": "imports.tasks.purge_abandoned_uploads_task",
    "schedule": 3600.0,
}

# --- Authentication ------------------------------------------------------------------------------
AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Health & Fitness Analytics] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
# allauth keeps its counters in the cache: Redis in production, local memory embedded.
ACCOUNT_ADAPTER = "users.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "users.adapters.SocialAccountAdapter"  # providers connect data, never sign in
ACCOUNT_RATE_LIMITS = {
    "login": env("RATE_LIMIT_LOGIN", default="30/m/ip"),
    "login_failed": env("RATE_LIMIT_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    "signup": env("RATE_LIMIT_SIGNUP", default="20/m/ip"),
    "reset_password": env("RATE_LIMIT_RESET_PASSWORD", default="20/m/ip,5/m/key"),
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Health & Fitness Analytics"
HEADLESS_ONLY = False
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_FRONTEND_URLS = {
    "account_confirm_email": f"{SITE_URL}/accounts/confirm-email/{{key}}/",
    "account_reset_password_from_key": f"{SITE_URL}/accounts/password/reset/key/{{key}}/",
    "account_signup": f"{SITE_URL}/accounts/signup/",
}
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_PROVIDERS: dict = {
    "fitbit": {"OAUTH_PKCE_ENABLED": True},
    "oura": {},
    "strava": {"SCOPE": ["read,activity:read_all"]},  # Strava wants one comma-separated list
    "whoop": {},
    "withings": {},
}  # their OAuth clients ("APPS") are added under Providers, from <PROVIDER>_CLIENT_ID

# --- Email ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Health & Fitness Analytics <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.SessionTokenAuthentication",
        "users.api_keys.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "users.api_keys.ApiKeyScopeAllows",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["config.ratelimits.ApiRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["config.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")
API_RATE_LIMIT_USER = env("API_RATE_LIMIT_USER", default="600/m")
API_RATE_LIMIT_IP = env("API_RATE_LIMIT_IP", default="1200/m")
SPECTACULAR_SETTINGS = {
    "TITLE": "Health & Fitness Analytics API",
    "DESCRIPTION": "Unified health and fitness data: records, aggregates, sources, imports and connections.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.document_error_responses",
    ],
}
HEALTH_CHECK_TOKEN = env("HEALTH_CHECK_TOKEN", default="")
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# An API key's "last used" time is written at most this often.
API_KEY_LAST_USED_INTERVAL_SECONDS = env.int("API_KEY_LAST_USED_INTERVAL_SECONDS", default=60)
# Wrong API keys allowed per client address in each window; past that every key try gets a 429.
API_KEY_FAILURES_PER_IP = env.int("API_KEY_FAILURES_PER_IP", default=20)
API_KEY_FAILURE_WINDOW_SECONDS = env.int("API_KEY_FAILURE_WINDOW_SECONDS", default=300)
# Data exports can be downloaded for this many days; then their files are deleted.
EXPORT_RETENTION_DAYS = env.int("EXPORT_RETENTION_DAYS", default=7)

# --- Providers -----------------------------------------------------------------------------------
# The integrations framework (docs/integrations.md): provider hosts, HTTP behaviour, token
# encryption, sync schedule, retention and the connect flow's return URLs.
# Every host a provider uses is a setting; paths stay the provider's real paths.
PROVIDER_HOSTS = {
    "WITHINGS": (
        "https://account.withings.com/oauth2_user/authorize2",
        "https://wbsapi.withings.net/v2/oauth2",
        "https://wbsapi.withings.net",
    ),
    "OURA": (
        "https://cloud.ouraring.com/oauth/authorize",
        "https://api.ouraring.com/oauth/token",
        "https://api.ouraring.com",
    ),
    "FITBIT": (  # Fitbit data comes through the Google Health API
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "https://health.googleapis.com",
    ),
    "WHOOP": (
        "https://api.prod.whoop.com/oauth/oauth2/auth",
        "https://api.prod.whoop.com/oauth/oauth2/token",
        "https://api.prod.whoop.com",
    ),
    "STRAVA": (
        "https://www.strava.com/oauth/authorize",
        "https://www.strava.com/oauth/token",
        "https://www.strava.com",
    ),
}
for _provider, (_authorize, _token, _api) in PROVIDER_HOSTS.items():
    globals()[f"{_provider}_AUTHORIZE_URL"] = env(f"{_provider}_AUTHORIZE_URL", default=_authorize)
    globals()[f"{_provider}_TOKEN_URL"] = env(f"{_provider}_TOKEN_URL", default=_token)
    globals()[f"{_provider}_API_BASE_URL"] = env(f"{_provider}_API_BASE_URL", default=_api)
# The provider sandbox (integrations/sandbox, docs/sandbox.md) serves every provider's real paths
# under {SITE_URL}/sandbox/<provider>/. Enabled, it is the default of every provider host; a value
# set in the environment always wins. The full authorize and token URLs follow their host.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=not PRODUCTION)
PROVIDER_BASE_URLS = {
    "WITHINGS_AUTH_BASE_URL": "https://account.withings.com",
    "WITHINGS_API_BASE_URL": "https://wbsapi.withings.net",
    "OURA_AUTH_BASE_URL": "https://cloud.ouraring.com",
    "OURA_API_BASE_URL": "https://api.ouraring.com",
    "FITBIT_AUTH_BASE_URL": "https://accounts.google.com",
    "FITBIT_TOKEN_BASE_URL": "https://oauth2.googleapis.com",
    "FITBIT_API_BASE_URL": "https://health.googleapis.com",
    "WHOOP_API_BASE_URL": "https://api.prod.whoop.com",
    "STRAVA_AUTH_BASE_URL": "https://www.strava.com",
    "STRAVA_API_BASE_URL": "https://www.strava.com",
}
for _name, _real in PROVIDER_BASE_URLS.items():
    _sandbox = f"{SITE_URL.rstrip('/')}/sandbox/{_name.split('_', 1)[0].lower()}"
    globals()[_name] = env(_name, default=_sandbox if SANDBOX_ENABLED else _real)
for _name, _base in {
    "WITHINGS_AUTHORIZE_URL": "WITHINGS_AUTH_BASE_URL",
    "WITHINGS_TOKEN_URL": "WITHINGS_API_BASE_URL",
    "OURA_AUTHORIZE_URL": "OURA_AUTH_BASE_URL",
    "OURA_TOKEN_URL": "OURA_API_BASE_URL",
    "FITBIT_AUTHORIZE_URL": "FITBIT_AUTH_BASE_URL",
    "FITBIT_TOKEN_URL": "FITBIT_TOKEN_BASE_URL",
    "WHOOP_AUTHORIZE_URL": "WHOOP_API_BASE_URL",
    "WHOOP_TOKEN_URL": "WHOOP_API_BASE_URL",
    "STRAVA_AUTHORIZE_URL": "STRAVA_AUTH_BASE_URL",
    "STRAVA_TOKEN_URL": "STRAVA_AUTH_BASE_URL",
}.items():
    if not env(_name, default=""):
        globals()[_name] = globals()[_base] + urlsplit(globals()[_name]).path
# Each provider's OAuth client; embedded mode defaults to the pair the sandbox accepts.
for _provider in ("WITHINGS", "OURA", "FITBIT", "WHOOP", "STRAVA"):
    _slug = _provider.lower()
    globals()[f"{_provider}_CLIENT_ID"] = env(
        f"{_provider}_CLIENT_ID", default="" if PRODUCTION else f"sandbox-{_slug}-client"
    )
    globals()[f"{_provider}_CLIENT_SECRET"] = env(
        f"{_provider}_CLIENT_SECRET", default="" if PRODUCTION else f"sandbox-{_slug}-secret"
    )
# allauth's SocialApp of each provider; without a client id the provider is not offered.
for _slug, _provider_settings in SOCIALACCOUNT_PROVIDERS.items():
    _client_id = globals().get(f"{_slug.upper()}_CLIENT_ID", "")
    _secret = globals().get(f"{_slug.upper()}_CLIENT_SECRET", "")
    _provider_settings["APPS"] = [{"client_id": _client_id, "secret": _secret}] if _client_id else []
# Fernet keys (comma-separated): the first encrypts, all decrypt; prepend a new key to rotate, then
# run `manage.py rotate_token_keys`. Empty: a key derived from SECRET_KEY (embedded mode only).
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS", default=[])
TOKEN_REFRESH_MARGIN_SECONDS = env.int("TOKEN_REFRESH_MARGIN_SECONDS", default=300)
PROVIDER_HTTP_CONNECT_TIMEOUT = env.float("PROVIDER_HTTP_CONNECT_TIMEOUT", default=5.0)
PROVIDER_HTTP_READ_TIMEOUT = env.float("PROVIDER_HTTP_READ_TIMEOUT", default=30.0)
PROVIDER_HTTP_MAX_ATTEMPTS = env.int("PROVIDER_HTTP_MAX_ATTEMPTS", default=4)
PROVIDER_HTTP_BACKOFF_SECONDS = env.float("PROVIDER_HTTP_BACKOFF_SECONDS", default=0.5)
PROVIDER_HTTP_BACKOFF_MAX_SECONDS = env.float("PROVIDER_HTTP_BACKOFF_MAX_SECONDS", default=30.0)
# A longer Retry-After ends the request; the sync task retries later instead of holding a worker.
PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS = env.float("PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS", default=60.0)
PROVIDER_RATE_MAX_WAIT_SECONDS = env.float("PROVIDER_RATE_MAX_WAIT_SECONDS", default=60.0)
# The share of each documented limit the app allows itself (headroom for clock skew, other apps).
PROVIDER_RATE_BUDGET_SHARE = env.float("PROVIDER_RATE_BUDGET_SHARE", default=0.9)
PROVIDER_CIRCUIT_FAILURE_THRESHOLD = env.int("PROVIDER_CIRCUIT_FAILURE_THRESHOLD", default=5)
PROVIDER_CIRCUIT_COOLDOWN_SECONDS = env.float("PROVIDER_CIRCUIT_COOLDOWN_SECONDS", default=120.0)
SYNC_BACKFILL_DAYS = env.int("SYNC_BACKFILL_DAYS", default=90)
SYNC_OVERLAP_DAYS = env.int("SYNC_OVERLAP_DAYS", default=3)
SYNC_INTERVAL_HOURS = env.float("SYNC_INTERVAL_HOURS", default=6)
SYNC_DISPATCH_MINUTES = env.int("SYNC_DISPATCH_MINUTES", default=5)
# A running sync holds its connection for this long and renews it every SYNC_HEARTBEAT_SECONDS;
# a run whose worker died is failed by beat once its lease has run out (within minutes).
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=300)
SYNC_HEARTBEAT_SECONDS = env.int("SYNC_HEARTBEAT_SECONDS", default=60)
# Days a provider's data is kept, e.g. "oura=365,strava=keep". Unlisted providers keep everything,
# except Strava, whose API agreement allows caching its data for 7 days.
PROVIDER_RETENTION_DAYS = {
    slug: None if days in ("", "keep") else int(days)
    for slug, days in {"strava": "7", **env.dict("PROVIDER_RETENTION_DAYS", default={})}.items()
}
# Sources without a public API: their data arrives through export files (imports presets).
IMPORT_ONLY_SOURCES = env.list(
    "IMPORT_ONLY_SOURCES",
    default=["integrations.registry.MyFitnessPalImport", "integrations.registry.CronometerImport"],
)
# Where the connect flow may send a person back (prefixes): the site itself and the mobile app.
CONNECT_RETURN_URL_ALLOWLIST = env.list("CONNECT_RETURN_URL_ALLOWLIST", default=[SITE_URL, "hfa://"])
# Beat fans out the due periodic syncs (every SYNC_INTERVAL_HOURS per connection, staggered by
# user) and enforces each provider's retention daily.
CELERY_BEAT_SCHEDULE["dispatch-due-syncs"] = {
    "task": "integrations.tasks.dispatch_due_syncs_task",
    "schedule": SYNC_DISPATCH_MINUTES * 60.0,
}
CELERY_BEAT_SCHEDULE["fail-stalled-syncs"] = {
    "task": "integrations.tasks.fail_stalled_syncs_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["enforce-provider-retention"] = {
    "task": "integrations.tasks.enforce_retention_task",
    "schedule": 24 * 3600.0,
}
# Owners of connections in error or silent for days are emailed, at most once a day per problem.
CELERY_BEAT_SCHEDULE["notify-connection-problems"] = {
    "task": "integrations.tasks.notify_connection_problems_task",
    "schedule": 3600.0,
}
# Webhook secrets. Oura and Strava echo a challenge only for the token given when subscribing;
# Google Health sends FITBIT_WEBHOOK_SECRET verbatim as the Authorization header ("Bearer …") and
# signs with the keys published at FITBIT_WEBHOOK_KEYSET_URL. Oura and WHOOP sign with the client secret.
# With the sandbox enabled they default to the values the sandbox sends.
OURA_WEBHOOK_VERIFICATION_TOKEN = env(
    "OURA_WEBHOOK_VERIFICATION_TOKEN", default="sandbox" if SANDBOX_ENABLED else ""
)
STRAVA_WEBHOOK_VERIFY_TOKEN = env("STRAVA_WEBHOOK_VERIFY_TOKEN", default="sandbox" if SANDBOX_ENABLED else "")
FITBIT_WEBHOOK_SECRET = env(
    "FITBIT_WEBHOOK_SECRET", default="Bearer sandbox-fitbit-webhook-secret" if SANDBOX_ENABLED else ""
)
FITBIT_WEBHOOK_KEYSET_URL = env(
    "FITBIT_WEBHOOK_KEYSET_URL",
    default=(FITBIT_API_BASE_URL if SANDBOX_ENABLED else "https://www.gstatic.com")  # noqa: F821 - set above
    + "/googlehealthapi/webhooks/webhooks_public_keyset.json",
)

# --- Security ------------------------------------------------------------------------------------
# Number of reverse proxies in front of the app whose X-Forwarded-For entries are trusted.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
RATELIMIT_IP_META_KEY = "config.ratelimits.client_ip_from_request"
RATELIMIT_USE_CACHE = "default"
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env("FILE_UPLOAD_TEMP_DIR", default="") or None
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=4 * 1024**3)
# A zip may expand to at most this much; a member expanding over 200 times is refused as a bomb.
IMPORT_MAX_UNCOMPRESSED_BYTES = env.int("IMPORT_MAX_UNCOMPRESSED_BYTES", default=64 * 1024**3)
IMPORT_MAX_ATTEMPTS = env.int("IMPORT_MAX_ATTEMPTS", default=3)
# A running import whose worker has not reported for this long is taken to be dead and restarted.
IMPORT_STALE_SECONDS = env.int("IMPORT_STALE_SECONDS", default=180)
# An Apple Health upload at least this large is parsed in a process of its own (the second core);
# a smaller one in a thread of the worker, which saves starting that process.
IMPORT_PARSER_PROCESS_MIN_BYTES = env.int("IMPORT_PARSER_PROCESS_MIN_BYTES", default=16 * 1024**2)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Probes and scrapers inside the network speak plain HTTP to the container.
    SECURE_REDIRECT_EXEMPT = [r"^health(/|$)", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    USE_X_FORWARDED_HOST = False

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Internationalisation and static files -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(DATA_DIR / "media")))
MEDIA_URL = "media/"

# --- Observability -------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "config.observability.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # One line per request comes from hfa.request; Django's own duplicates it.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "celery": {"level": LOG_LEVEL},
    },
}
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from config.observability import init_sentry

    init_sentry(
        SENTRY_DSN,
        environment=DJANGO_ENV,
        release=APP_VERSION,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
PROMETHEUS_EXPORT_MIGRATIONS = False
