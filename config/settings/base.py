"""Settings shared by every environment.

Every value comes from the environment through django-environ, with embedded defaults that
need no server: SQLite and the kombu filesystem broker under ``var/``, media under
``var/media``. Setting ``DATABASE_URL`` and ``CELERY_BROKER_URL`` moves the same code onto
PostgreSQL and Redis.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()
# A local .env is a convenience for developers; real deployments set the environment.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("ATELIER_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-local-only-atelier-key")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI's files served from our static files: the API docs page works offline.
    "drf_spectacular_sidecar",
    "accounts",
    "competitions",
    "submissions",
    "scoring",
    "leaderboard",
    "forum",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the body: oversized uploads are refused unread.
    "config.uploads.UploadSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'atelier.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The web process and the workers share one SQLite file: WAL lets readers run beside a
    # writer, IMMEDIATE transactions take the write lock up front (so a read-then-write
    # transaction cannot deadlock into "database is locked"), and the timeout makes writers
    # wait for each other instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Email ----------------------------------------------------------------------------------
# Console by default so password resets work on a laptop; EMAIL_URL=smtp+tls://... for SMTP.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Atelier <noreply@atelier.local>")

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("ATELIER_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
# Where collectstatic gathers files for production; unset locally, where WhiteNoise serves
# straight from the app and project folders.
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default="") or None
STATICFILES_DIRS = [BASE_DIR / "static"]
# Media is never served by URL: hidden images must not leave the server, so every image goes
# out through a view that checks who is asking.
MEDIA_ROOT = Path(env.str("ATELIER_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads larger than this spool to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Every upload streams to a temporary file and is hashed on the way (config/uploads.py).
FILE_UPLOAD_HANDLERS = ["config.uploads.HashingUploadHandler"]

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    # JSON bodies within ATELIER_JSON_MAX_DEPTH / _BYTES (config/parsing.py), else 400.
    "DEFAULT_PARSER_CLASSES": [
        "config.parsing.JSONBodyParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": env.int("ATELIER_API_PAGE_SIZE", default=20),
    # Anonymous clients by IP, signed-in ones by user; views with a ``throttle_scope`` (joining,
    # uploading a submission) also count against that scope's stricter rate.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("ATELIER_API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("ATELIER_API_THROTTLE_USER", default="600/minute"),
        # Every upload is hashed and its checkpoint loaded for validation before the quota
        # can refuse it, so uploads get a rate of their own below the general one.
        "submit": env.str("ATELIER_API_THROTTLE_SUBMIT", default="10/minute"),
        "join": env.str("ATELIER_API_THROTTLE_JOIN", default="10/minute"),
    },
    # Behind a reverse proxy set this to its number of hops, so that anonymous clients are told
    # apart by X-Forwarded-For instead of all sharing the proxy's address.
    "NUM_PROXIES": env.int("ATELIER_API_NUM_PROXIES", default=None),
}
# Throttles count requests in the cache: locmem is per process, so a deployment with several
# web processes points CACHE_URL at Redis (e.g. redis://redis:6379/1) to share the counts.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
SPECTACULAR_SETTINGS = {
    "TITLE": "Atelier API",
    "DESCRIPTION": (
        "Style-transfer challenges, submissions and leaderboards. Authenticate with the header "
        "`Authorization: Token KEY` (create a key on your account's API token page) or with the "
        "website's session."
    ),
    "VERSION": "1",
    # Request bodies get their own components, so that an upload is described as binary
    # (a file part) instead of the URL a file field shows in responses.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status": each choice set gets its own stable name.
    "ENUM_NAME_OVERRIDES": {
        "ChallengeStatusEnum": "competitions.models.Challenge.Status",
        "ParticipationStatusEnum": "competitions.models.Participation.Status",
        "SubmissionStatusEnum": "submissions.models.Submission.Status",
    },
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("ATELIER_LOG_LEVEL", default="INFO")},
}

# --- Atelier --------------------------------------------------------------------------------
# Which settings module is in force: "local", "test" or "production" (each sets its own).
ATELIER_ENVIRONMENT = "base"
# Pillow refuses anything larger than this many pixels before decoding it (decompression
# bombs). 40 MP is above any camera photo an organizer would reasonably upload.
ATELIER_MAX_IMAGE_PIXELS = env.int("ATELIER_MAX_IMAGE_PIXELS", default=40_000_000)
# Limits for challenge bundles (zip or folder), checked before anything is decompressed.
ATELIER_BUNDLE_MAX_FILES = env.int("ATELIER_BUNDLE_MAX_FILES", default=5_000)
ATELIER_BUNDLE_MAX_BYTES = env.int("ATELIER_BUNDLE_MAX_BYTES", default=2 * 1024**3)
# The largest request body with files (checkpoints, bundles) read at all; a phase's own
# checkpoint limit is checked after the upload, against the file.
ATELIER_MAX_UPLOAD_BYTES = env.int("ATELIER_MAX_UPLOAD_BYTES", default=1024**3)
# Limits of what organizers set, checked by the model on every write (admin, bundles).
# The longest time limit a phase may set. Kept below ATELIER_BROKER_VISIBILITY_TIMEOUT_S (6 h)
# with ATELIER_DEADLINE_GRACE_S added, or the broker would hand a slow scoring run to a second
# worker; scoring workers honour at most a week whatever this says.
ATELIER_MAX_TIME_LIMIT_S = env.int("ATELIER_MAX_TIME_LIMIT_S", default=4 * 3600)
# The largest generator a phase may accept: a billion parameters is 4 GB of float32 weights,
# already more than a checkpoint under ATELIER_MAX_UPLOAD_BYTES can hold.
ATELIER_MAX_GENERATOR_PARAMS = env.int("ATELIER_MAX_GENERATOR_PARAMS", default=1_000_000_000)
# The longest challenge description or rules, in characters of markdown. Rendered once when
# saved; the renderer is linear in the length, about a second for this much hostile text.
ATELIER_MARKDOWN_MAX_CHARS = env.int("ATELIER_MARKDOWN_MAX_CHARS", default=100_000)
# Each upload is validated in a child process under these limits (issue 18), so that no file
# can stall or bloat the web process; a valid 2 MB checkpoint takes well under a second.
ATELIER_VALIDATION_TIME_LIMIT_S = env.float("ATELIER_VALIDATION_TIME_LIMIT_S", default=30.0)
ATELIER_VALIDATION_MEMORY_LIMIT_MB = env.int("ATELIER_VALIDATION_MEMORY_LIMIT_MB", default=2048)
# ONNX uploads (models/onnx_graph.py): nodes over the graph and its subgraphs, and initializers.
# A style-transfer generator has a few hundred of each; the checker and the runtime's graph
# optimisations cost time in proportion.
ATELIER_ONNX_MAX_NODES = env.int("ATELIER_ONNX_MAX_NODES", default=10_000)
ATELIER_ONNX_MAX_INITIALIZERS = env.int("ATELIER_ONNX_MAX_INITIALIZERS", default=10_000)
# JSON from requests (API bodies, the submission's config): deeper nesting would exhaust the
# decoder's recursion. No legitimate document comes near either limit; 2 MiB leaves a forum
# post of 1 MiB, far over its length limit, to be told its length rather than refused unread.
ATELIER_JSON_MAX_DEPTH = env.int("ATELIER_JSON_MAX_DEPTH", default=64)
ATELIER_JSON_MAX_BYTES = env.int("ATELIER_JSON_MAX_BYTES", default=2 * 1024**2)
# --- Scoring --------------------------------------------------------------------------------
# The metric network: torchvision's vgg19-dcbb9e9d.pth (or a safetensors copy) when given,
# else seeded random texture networks (results are then marked "uncalibrated"). The seed also
# draws the trainer's random VGG19 loss network (baselines, starter kit).
ATELIER_VGG19_WEIGHTS = env.str("ATELIER_VGG19_WEIGHTS", default="")
ATELIER_VGG19_SEED = env.int("ATELIER_VGG19_SEED", default=0)
# Without a weights file, the metric network is this many seeded random texture networks side
# by side, which makes the ranking a property of the images, not of the seed
# (scoring/engine/README.md: Metric network). The setting keeps its historical name.
ATELIER_VGG19_MEMBERS = env.int("ATELIER_VGG19_MEMBERS", default=3)
# The judge gate (scoring/engine/judge_training.py): a judge below this balanced held-out
# accuracy, or checked on fewer tiles, never scores. Negatives: how many images of other
# challenges' styles (and the organizer's negative set) a judge trains against at most.
ATELIER_JUDGE_MIN_ACCURACY = env.float("ATELIER_JUDGE_MIN_ACCURACY", default=0.9)
ATELIER_JUDGE_MIN_TILES = env.int("ATELIER_JUDGE_MIN_TILES", default=64)
ATELIER_JUDGE_MAX_NEGATIVES = env.int("ATELIER_JUDGE_MAX_NEGATIVES", default=64)
# Trainings of a judge before it is FAILED: a run that misses the gate is retried with the next
# seed (training is stochastic: mosaic's judge passes under seeds 0 and 1 and misses under 2).
ATELIER_JUDGE_ATTEMPTS = env.int("ATELIER_JUDGE_ATTEMPTS", default=3)
ATELIER_SCORING_DEVICE = env.str("ATELIER_SCORING_DEVICE", default="cpu")
ATELIER_SCORING_BATCH_SIZE = env.int("ATELIER_SCORING_BATCH_SIZE", default=4)
ATELIER_GENERATOR_MEMORY_BYTES = env.int("ATELIER_GENERATOR_MEMORY_BYTES", default=4 * 1024**3)
# Attempts before a submission that keeps failing on our side is failed with the reason.
ATELIER_SCORING_MAX_ATTEMPTS = env.int("ATELIER_SCORING_MAX_ATTEMPTS", default=3)
# A running submission whose progress has not been written for this long has lost its worker.
ATELIER_HEARTBEAT_TIMEOUT_S = env.int("ATELIER_HEARTBEAT_TIMEOUT_S", default=120)
# Each worker writes the queues it consumes this often; a queue nobody was seen consuming for
# ATELIER_WORKER_ABSENT_AFTER_S shows "waiting for the organizers' worker" on a challenge's
# own queue (scoring.presence).
ATELIER_WORKER_PRESENCE_INTERVAL_S = env.float("ATELIER_WORKER_PRESENCE_INTERVAL_S", default=30.0)
ATELIER_WORKER_ABSENT_AFTER_S = env.float("ATELIER_WORKER_ABSENT_AFTER_S", default=120.0)
# Added to a phase's time limit for loading, references and writing the result.
ATELIER_DEADLINE_GRACE_S = env.int("ATELIER_DEADLINE_GRACE_S", default=600)
# A queued submission whose task was sent this long ago without a start is sent again.
ATELIER_DISPATCH_AFTER_S = env.int("ATELIER_DISPATCH_AFTER_S", default=600)
# Absolute links in emails.
ATELIER_SITE_URL = env.str("ATELIER_SITE_URL", default="http://127.0.0.1:8000")

# Services the test suite must reach; with 1 an unreachable service fails instead of skipping.
ATELIER_REQUIRE_SERVICES = env.bool("ATELIER_REQUIRE_SERVICES", default=False)

from config.settings.celery import *  # noqa: E402, F403  one file per integration

# --- Forum ----------------------------------------------------------------------------------
# Posts one user may write in any window of this many seconds, counted in the database so the
# limit holds across web workers; organizers of the challenge are exempt.
ATELIER_FORUM_POST_LIMIT = env.int("ATELIER_FORUM_POST_LIMIT", default=5)
ATELIER_FORUM_POST_WINDOW_S = env.int("ATELIER_FORUM_POST_WINDOW_S", default=60)
# How long after writing it an author may still edit a post.
ATELIER_FORUM_EDIT_WINDOW_S = env.int("ATELIER_FORUM_EDIT_WINDOW_S", default=30 * 60)
