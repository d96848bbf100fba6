"""A production deployment on one machine, media in a real object store (SeaweedFS).

The web app, two scoring workers and a default worker with beat run as their own processes,
each in its own folder with its own empty media root, on config.settings.production pointed at
the bucket. Twenty checkpoints arrive through the API while both scoring workers build the
challenge's judge and reference caches for the first time; one scoring worker is killed with
SIGKILL mid-run. Then: every submission is scored exactly once; the web app serves galleries and
images from the bucket; no process wrote a file locally; the results are those of a single
process scoring the same checkpoints on a twin challenge with its own judge and references;
the bucket holds one judge and one reference cache per board, and no object that no row names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.apps import apps
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import models
from django.test import Client
from pytest_django.fixtures import Settings

from accounts.services import api_token_create
from competitions.imaging import NormalisedImage
from competitions.models import Challenge
from competitions.services import challenge_image_add, participation_join
from models.loading import CheckpointSpec
from scoring.models import GalleryImage, ReferenceCache, ScoringProfile, WorkerQueue
from scoring.run import Outcome, checkpoint_score
from scoring.services import metric_network
from submissions.models import Submission
from tests.deploy.deployment import SECRET_KEY, Deployment, production_environment
from tests.deploy.object_store import ObjectStore
from tests.factories import make_challenge
from tests.models.checkpoint_files import random_network, save_safetensors
from tests.submissions.processes import wait_for

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SUBMISSIONS = 20
SCORING_WORKERS = ("scoring-1", "scoring-2")
DOOMED = "scoring-1"
READY_WITHIN_S = 120
FINISH_WITHIN_S = 240
# Test scale, not deployment: plain HTTP on the loopback (no TLS proxy in front), twenty uploads
# in seconds, one metric network, a judge that passes on 32-pixel images, and a killed worker's
# submission taken over within seconds.
TUNING = {
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "ATELIER_API_THROTTLE_SUBMIT": "1000/minute",
    "ATELIER_VGG19_MEMBERS": "1",
    "ATELIER_JUDGE_MIN_ACCURACY": "0",
    "ATELIER_JUDGE_MIN_TILES": "1",
    "ATELIER_HEARTBEAT_TIMEOUT_S": "8",
    "ATELIER_REAP_INTERVAL_S": "1",
    "ATELIER_DISPATCH_INTERVAL_S": "1",
    # Another session's worker on the same broker may take a message and find no such
    # submission: the dispatcher sends it again.
    "ATELIER_DISPATCH_AFTER_S": "20",
}
# Times, which differ from run to run; every other metric must be equal.
TIMES = ("ms_per_image", "runtime_ratio")


class Unwatched:
    """The progress of a run nobody watches or stops (`scoring.run.Progress`)."""

    def progress(self, stage: str, fraction: float, *, force: bool = False) -> None:
        pass

    def check(self) -> None:
        pass

    def step(self, name: str, started: float, **details: Any) -> None:
        pass


@pytest.fixture
def bucket_media(settings: Settings, object_store: ObjectStore) -> Iterator[ObjectStore]:
    """This process's media in the bucket too, its sessions signed as the web app's, and the
    deployment's scoring scale (for the single-process run)."""
    settings.STORAGES = {**settings.STORAGES, "default": object_store.storage()}
    settings.SECRET_KEY = SECRET_KEY
    settings.ATELIER_VGG19_MEMBERS = int(TUNING["ATELIER_VGG19_MEMBERS"])
    settings.ATELIER_JUDGE_MIN_ACCURACY = float(TUNING["ATELIER_JUDGE_MIN_ACCURACY"])
    settings.ATELIER_JUDGE_MIN_TILES = int(TUNING["ATELIER_JUDGE_MIN_TILES"])
    # Loaded once per process: a network built under other settings must not be reused.
    metric_network.cache_clear()
    yield object_store
    metric_network.cache_clear()


@pytest.fixture
def deployment(bucket_media: ObjectStore, tmp_path: Path) -> Iterator[Deployment]:
    running = Deployment(production_environment(bucket_media, **TUNING), tmp_path / "deployment")
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def deployed_challenge(bucket_media: ObjectStore, organizer: User, participant: User) -> Challenge:
    """32-pixel images, 3 hidden and 2 public photos, stored in the bucket."""
    challenge = make_challenge(
        slug="deployed", organizers=(organizer,), content_public=2, content_hidden=3
    )
    ScoringProfile.objects.create(challenge=challenge, judge_steps=5, gallery_size=1)
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    challenge.phases.update(max_running=SUBMISSIONS, max_per_day=SUBMISSIONS)
    return challenge


@pytest.fixture
def checkpoints(tmp_path: Path) -> dict[str, Path]:
    """Twenty width-8 TransformerNets, by file name."""
    paths = [
        save_safetensors(
            random_network("transformer_net", {"width": 8}, seed=seed).state_dict(),
            tmp_path / f"seed-{seed}.safetensors",
        )
        for seed in range(SUBMISSIONS)
    ]
    return {path.name: path for path in paths}


def test_two_scoring_workers_on_one_bucket(
    deployment: Deployment,
    deployed_challenge: Challenge,
    organizer: User,
    participant: User,
    checkpoints: dict[str, Path],
    object_store: ObjectStore,
) -> None:
    base = deployment.web()
    for name in SCORING_WORKERS:
        deployment.scoring_worker(name)
    deployment.default_worker_and_beat()
    assert wait_for(workers_serving, timeout=READY_WITHIN_S), deployment.logs_tail()

    token = api_token_create(user=participant).key
    ids = [upload(base, token, deployed_challenge.slug, path) for path in checkpoints.values()]
    killed = kill_mid_run(deployment, DOOMED, ids)
    assert wait_for(lambda: finished(ids), timeout=FINISH_WITHIN_S), deployment.logs_tail()

    submissions = list(Submission.objects.filter(pk__in=ids).prefetch_related("results"))
    assert_scored_exactly_once(submissions, killed)
    assert_built_at_once(SCORING_WORKERS)
    assert_listed_as_scored(base, token, deployed_challenge.slug)
    assert_served_from_bucket(base, deployed_challenge, organizer, participant, object_store)
    deployment.stop_all()
    assert deployment.local_files() == {name: [] for name in deployment.homes}
    keys, named = object_store.keys(), stored_names()

    assert_as_one_process_scores(deployed_challenge, organizer, submissions, checkpoints)
    assert_one_judge_and_cache_per_board(deployed_challenge, keys)
    orphans, missing = sorted(keys - named), sorted(named - keys)
    assert not orphans, f"objects that no row names: {orphans}"
    assert not missing, f"rows that name no object: {missing}"


# --- Driving the deployment -------------------------------------------------------------------


def workers_serving() -> bool:
    """Both scoring workers are consuming their queue (each records it once it is ready)."""
    hostnames = WorkerQueue.objects.filter(queue="scoring").values_list("hostname", flat=True)
    return all(any(h.startswith(f"{name}-") for h in hostnames) for name in SCORING_WORKERS)


def upload(base: str, token: str, slug: str, checkpoint: Path) -> str:
    response = requests.post(
        f"{base}/api/v1/challenges/{slug}/submissions/",
        headers={"Authorization": f"Token {token}"},
        data={"architecture": "transformer_net"},
        files={"checkpoint": (checkpoint.name, checkpoint.read_bytes())},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def kill_mid_run(deployment: Deployment, name: str, ids: list[str]) -> str:
    """Once each scoring worker has scored one submission (so both have been through their
    first build), SIGKILL the worker `name` while it runs a submission; returns the id of the
    submission it was running."""

    def scored_by_each() -> bool:
        scored = Submission.objects.filter(status=Submission.Status.SCORED)
        return all(scored.filter(worker__startswith=f"{w}-").exists() for w in SCORING_WORKERS)

    wait_for(lambda: scored_by_each() or finished(ids), timeout=FINISH_WITHIN_S)
    assert scored_by_each(), deployment.logs_tail()
    victim: list[str] = []

    def running_one() -> bool:
        # Any running attempt: on these tiny images generating lasts milliseconds, and progress
        # is written at most once a second, so its stage may never read "generating".
        running = Submission.objects.filter(
            worker__startswith=f"{name}-", status=Submission.Status.RUNNING
        )
        victim[:] = [str(pk) for pk in running.values_list("pk", flat=True)]
        return bool(victim)

    wait_for(lambda: running_one() or finished(ids), timeout=FINISH_WITHIN_S, interval=0.02)
    assert victim, f"{name} was never seen running\n{deployment.logs_tail()}"
    deployment.kill(name)
    return victim[0]


def finished(ids: list[str]) -> bool:
    return not Submission.objects.filter(pk__in=ids, status__in=Submission.ACTIVE_STATUSES).exists()


# --- What must hold ---------------------------------------------------------------------------


def assert_scored_exactly_once(submissions: list[Submission], killed: str) -> None:
    for submission in submissions:
        steps = [entry["step"] for entry in submission.log]
        assert submission.status == Submission.Status.SCORED, submission.log
        assert steps.count("scored") == 1, submission.log
        assert sorted(r.leaderboard for r in submission.results.all()) == ["private", "public"]
        if str(submission.pk) == killed:
            assert submission.attempts >= 2, submission.log
            assert "reaped" in steps, submission.log
            assert not submission.worker.startswith(f"{DOOMED}-")


def assert_built_at_once(workers: tuple[str, ...]) -> None:
    """The scenario itself: each worker's first submission was preparing the judge and the
    references while the other's was."""
    windows = []
    for name in workers:
        first = (
            Submission.objects.filter(
                worker__startswith=f"{name}-", status=Submission.Status.SCORED
            )
            .order_by("started_at")
            .first()
        )
        assert first is not None
        assert first.started_at is not None
        ready = next(entry for entry in first.log if entry["step"] == "references ready")
        windows.append(
            (first.started_at, first.started_at + dt.timedelta(seconds=ready["seconds"]))
        )
    (start_a, end_a), (start_b, end_b) = windows
    overlap = start_a < end_b and start_b < end_a
    assert overlap, f"the first builds did not overlap: {windows}"


def assert_listed_as_scored(base: str, token: str, slug: str) -> None:
    response = requests.get(
        f"{base}/api/v1/challenges/{slug}/submissions/",
        headers={"Authorization": f"Token {token}"},
        params={"page_size": SUBMISSIONS},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    listed = response.json()["results"]
    assert [item["status"] for item in listed] == ["scored"] * SUBMISSIONS


def session_cookie(user: User) -> dict[str, str]:
    """A session of `user` as the web app reads it: the test signs it with the web app's key."""
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def assert_served_from_bucket(
    base: str, challenge: Challenge, organizer: User, participant: User, store: ObjectStore
) -> None:
    """Every gallery image (to its participant) and every challenge image (to its organizer),
    byte for byte the bucket's: no process has a local copy to serve."""
    served = {}
    as_participant = session_cookie(participant)
    for image in GalleryImage.objects.filter(submission__phase__challenge=challenge):
        url = f"{base}/submissions/{image.submission_id}/gallery/{image.position}.png"
        served[image.file.name] = requests.get(url, headers=as_participant, timeout=30)
    as_organizer = session_cookie(organizer)
    for image in challenge.images.all():
        url = f"{base}/challenges/{challenge.slug}/images/{image.pk}.png"
        served[image.file.name] = requests.get(url, headers=as_organizer, timeout=30)
    assert len(served) == SUBMISSIONS + challenge.images.count()
    for key, response in served.items():
        assert response.status_code == 200, (key, response.status_code)
        assert response.content == store.read(key), key


def stored_names() -> set[str]:
    """The storage name in every file field of every row."""
    names: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                names.update(
                    model.objects.exclude(**{field.name: ""}).values_list(field.name, flat=True)
                )
    return names


def assert_one_judge_and_cache_per_board(challenge: Challenge, keys: set[str]) -> None:
    profile = ScoringProfile.objects.get(challenge=challenge)
    caches = dict(
        ReferenceCache.objects.filter(challenge=challenge).values_list("leaderboard", "file")
    )
    assert profile.judge_status == ScoringProfile.JudgeStatus.READY, profile.judge_error
    assert sorted(caches) == ["private", "public"]
    prefix = f"scoring/{challenge.pk}/"
    stored = sorted(key for key in keys if key.startswith(prefix))
    named = sorted([profile.judge_file.name, *caches.values()])
    assert stored == named, f"in the bucket under {prefix}: {stored}; named by rows: {named}"


# --- The same checkpoints, scored by one process ----------------------------------------------


def challenge_twin(challenge: Challenge, organizer: User) -> Challenge:
    """A draft challenge with the same images and scoring profile, whose judge and reference
    caches one process builds alone."""
    twin = make_challenge(
        slug=f"{challenge.slug}-twin",
        organizers=(organizer,),
        status=Challenge.Status.DRAFT,
        resolution=challenge.resolution,
        content_public=0,
        content_hidden=0,
        style_public=0,
    )
    for image in challenge.images.order_by("pk"):
        with default_storage.open(image.file.name, "rb") as handle:
            png = handle.read()
        normalised = NormalisedImage(
            png=png,
            sha256=image.sha256,
            original_width=challenge.resolution,
            original_height=challenge.resolution,
            original_format="PNG",
        )
        challenge_image_add(
            challenge=twin,
            kind=image.kind,
            split=image.split,
            normalised=normalised,
            name=image.original_name,
        )
    profile = ScoringProfile.objects.get(challenge=challenge)
    ScoringProfile.objects.create(
        challenge=twin, judge_steps=profile.judge_steps, gallery_size=profile.gallery_size
    )
    return twin


def assert_as_one_process_scores(
    challenge: Challenge,
    organizer: User,
    submissions: list[Submission],
    checkpoints: dict[str, Path],
) -> None:
    """Each submission's results and gallery equal those of the same checkpoint scored in this
    process on the twin challenge (its own judge and references, built by it alone), exactly,
    but for the times."""
    phase = challenge_twin(challenge, organizer).phases.get()
    for submission in submissions:
        outcome = checkpoint_score(
            phase=phase,
            checkpoint=CheckpointSpec(
                path=checkpoints[submission.checkpoint_name],
                architecture=submission.architecture,
                config=submission.config,
                io_range=submission.io_range,
            ),
            param_count=submission.param_count,
            progress=Unwatched(),
        )
        assert_same_scores(submission, outcome)


def assert_same_scores(submission: Submission, outcome: Outcome) -> None:
    for result in submission.results.all():
        expected = outcome.results[result.leaderboard]
        label = f"{submission.checkpoint_name} {result.leaderboard}"
        metrics = {name: value for name, value in expected.metrics.items() if name not in TIMES}
        assert {name: getattr(result, name) for name in metrics} == metrics, label
        assert result.per_image == expected.per_image, label
        assert result.missing == expected.missing, label
        assert result.judge_sha256 == (expected.judge_sha256 or ""), label
        assert result.references_key == expected.references_key, label
    (gallery,) = submission.gallery.all()
    with default_storage.open(gallery.file.name, "rb") as handle:
        assert handle.read() == outcome.gallery[0][2], submission.checkpoint_name
