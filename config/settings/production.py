"""Production: secrets and hosts are required, HTTPS everywhere, media on S3 if configured.

Required environment: DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, DATABASE_URL,
CELERY_BROKER_URL. Media goes to S3-compatible object storage when
ATELIER_S3_BUCKET is set (web and workers on different machines), else to a shared volume.
"""

from __future__ import annotations

from config.settings.base import *  # noqa: F403
from config.settings.base import BASE_DIR, STORAGES, env

ATELIER_ENVIRONMENT = "production"

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
# Fail at start-up rather than quietly running production on SQLite or the filesystem broker.
env.str("DATABASE_URL")
env.str("CELERY_BROKER_URL")

# --- HTTPS ----------------------------------------------------------------------------------
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Static files and media -----------------------------------------------------------------
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))
STORAGES["staticfiles"] = {
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
}
ATELIER_S3_BUCKET = env.str("ATELIER_S3_BUCKET", default="")
if ATELIER_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ATELIER_S3_BUCKET,
            "endpoint_url": env.str("ATELIER_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("ATELIER_S3_REGION", default="") or None,
            "access_key": env.str("ATELIER_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("ATELIER_S3_SECRET_ACCESS_KEY", default="") or None,
            # Hidden images live here too: nothing is public, nothing is overwritten.
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
