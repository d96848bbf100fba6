"""Which real services the suite talks to, and whether they answer."""

from __future__ import annotations

import psycopg2
from django.conf import settings
from kombu import Connection

PROBE_TIMEOUT_S = 3


def database_vendor() -> str:
    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else "sqlite"


def broker_kind() -> str:
    return settings.CELERY_BROKER_URL.split("://", 1)[0]


def postgres_problem() -> str | None:
    """None when the configured PostgreSQL answers, else why not."""
    database = settings.DATABASES["default"]
    if database_vendor() != "postgresql":
        return f"DATABASE_URL is not PostgreSQL (engine {database['ENGINE']})"
    try:
        connection = psycopg2.connect(
            dbname=database["NAME"],
            user=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            host=database.get("HOST") or None,
            port=database.get("PORT") or None,
            connect_timeout=PROBE_TIMEOUT_S,
        )
    except psycopg2.OperationalError as error:
        return f"PostgreSQL does not answer: {str(error).strip()}"
    connection.close()
    return None


def redis_problem() -> str | None:
    """None when the configured Redis broker answers, else why not."""
    if broker_kind() != "redis":
        return f"CELERY_BROKER_URL is not Redis ({settings.CELERY_BROKER_URL})"
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=PROBE_TIMEOUT_S) as conn:
            conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT_S)
    except Exception as error:  # kombu raises transport-specific errors
        return f"Redis does not answer: {error}"
    return None
