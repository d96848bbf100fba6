"""Settings on both stacks: embedded defaults, PostgreSQL + Redis by URL, production checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests import services

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"),
    "port": db.get("PORT"), "user": db.get("USER"),
    "broker": settings.CELERY_BROKER_URL,
    "transport": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "media": str(settings.MEDIA_ROOT),
    "storage": settings.STORAGES["default"]["BACKEND"],
    "debug": settings.DEBUG,
}))
"""
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "ATELIER_VAR_DIR",
    "ATELIER_MEDIA_ROOT",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(extra)
    return env


def read_settings(module: str, **extra: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean_env(DJANGO_SETTINGS_MODULE=module, **extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_embedded_defaults_need_no_server(tmp_path: Path) -> None:
    values = read_settings("config.settings.local", ATELIER_VAR_DIR=str(tmp_path))
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "atelier.sqlite3")
    assert values["broker"].startswith("filesystem://")
    assert values["transport"]["data_folder_in"] == str(tmp_path / "celery" / "queue")
    assert (tmp_path / "celery" / "queue").is_dir()
    assert values["media"] == str(tmp_path / "media")
    assert values["debug"] is True


def test_postgres_and_redis_by_url(tmp_path: Path) -> None:
    values = read_settings(
        "config.settings.local",
        ATELIER_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://atelier:secret@db.internal:5433/atelier",
        CELERY_BROKER_URL="redis://cache.internal:6379/2",
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["name"], values["host"], values["port"], values["user"]) == (
        "atelier",
        "db.internal",
        5433,
        "atelier",
    )
    assert values["broker"] == "redis://cache.internal:6379/2"
    assert values["transport"]["visibility_timeout"] >= 3600
    assert not (tmp_path / "celery").exists()


PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x" * 64 + "-production-secret-not-for-real-use",
    "DJANGO_ALLOWED_HOSTS": "atelier.example.org",
    "DATABASE_URL": "postgres://atelier@db:5432/atelier",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
}


def test_production_passes_check_deploy(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=clean_env(
            DJANGO_SETTINGS_MODULE="config.settings.production",
            DJANGO_STATIC_ROOT=str(tmp_path / "static"),
            **PRODUCTION_ENV,
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", sorted(PRODUCTION_ENV))
def test_production_refuses_to_start_without_required_settings(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.production", **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_media_on_object_storage_when_configured() -> None:
    values = read_settings(
        "config.settings.production", ATELIER_S3_BUCKET="atelier-media", **PRODUCTION_ENV
    )
    assert values["storage"] == "storages.backends.s3.S3Storage"
    without = read_settings("config.settings.production", **PRODUCTION_ENV)
    assert without["storage"] == "django.core.files.storage.FileSystemStorage"


@pytest.mark.django_db
def test_the_suite_runs_on_the_configured_database() -> None:
    expected = services.database_vendor()
    assert connection.vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    if settings.ATELIER_REQUIRE_SERVICES:
        assert connection.vendor == "postgresql"
        assert services.broker_kind() == "redis"
