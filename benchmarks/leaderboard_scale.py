"""Leaderboards at scale: queries and server time of the page and the JSON endpoint, and the
time to bring the leaderboards up to date after one new result.

Creates 2,000 participants with 10 scored submissions each (20,000 submissions, 40,000
results, 3 gallery images each, 2 baselines) in a scratch database of the configured kind:
a temporary SQLite file by default, or, when DATABASE_URL names PostgreSQL, a database
`atelier_bench` on the same server, created for the run and dropped after it (the database
DATABASE_URL names is only used to connect). Requests go through Django's test client, so
"server time" is everything from URL routing to the rendered response, without a network.

Targets: queries constant and at most 10; page p50 under 30 ms on PostgreSQL; the update
after one new result under 50 ms (with the default rule; the average rank, whose numbers
depend on everyone's results, recomputes the whole phase and is printed apart).

    .venv/bin/python benchmarks/leaderboard_scale.py [--participants 2000] [--per-participant 10]
        [--requests 50] [--updates 30]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/leaderboard_scale.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger("benchmarks.leaderboard_scale")

BENCH_DATABASE = "atelier_bench"
SLUG = "leaderboard-bench"
GALLERY = 3
QUERY_TARGET = 10
PAGE_P50_TARGET_MS = 30.0
UPDATE_TARGET_MS = 50.0
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


# --- The scratch database -------------------------------------------------------------------


def scratch_database(folder: Path) -> tuple[str, Callable[[], None]]:
    """The DATABASE_URL of the run's own database, and how to remove it afterwards."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{folder / 'bench.sqlite3'}", lambda: None
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(configured)
    admin = psycopg2.connect(configured)
    admin.autocommit = True

    def run(statement: str) -> None:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL(statement).format(sql.Identifier(BENCH_DATABASE)))

    run("DROP DATABASE IF EXISTS {}")  # a leftover of an interrupted run of this script
    run("CREATE DATABASE {}")

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        run("DROP DATABASE IF EXISTS {}")
        admin.close()

    return urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}")), drop


def setup_django(database_url: str, folder: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url,
            "ATELIER_MEDIA_ROOT": str(folder / "media"),
            "ATELIER_LOG_LEVEL": "WARNING",
        }
    )
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    # The test client's host; setup_test_environment() would also instrument every template
    # render, which production does not pay for.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)


# --- Data ------------------------------------------------------------------------------------


def populate(participants: int, per_participant: int, rng: random.Random) -> dict[str, Any]:
    """The challenge, its phase and everyone's scored submissions, inserted in bulk."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.roles import organizers_group_ensure
    from competitions.models import Challenge, Participation, Phase

    user_model = get_user_model()
    organizer = user_model.objects.create_user("bench-organizer", is_staff=True)
    organizer.groups.add(organizers_group_ensure())
    challenge = Challenge.objects.create(
        slug=SLUG, title="Leaderboard bench", status=Challenge.Status.PUBLISHED
    )
    challenge.organizers.add(organizer)
    now = timezone.now()
    phase = Phase.objects.create(
        challenge=challenge,
        name="Development",
        starts_at=T0,
        ends_at=now + dt.timedelta(days=30),
    )
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench-{index:05d}", password="!") for index in range(participants)]
    )
    Participation.objects.bulk_create(
        [
            Participation(
                user=user,
                challenge=challenge,
                status=Participation.Status.APPROVED,
                rules_accepted_at=now,
            )
            for user in users
        ]
    )
    minutes = int((now - T0).total_seconds() // 60)
    plan = [(user, False, rng.randrange(minutes)) for user in users for _ in range(per_participant)]
    plan += [(organizer, True, rng.randrange(minutes)) for _ in range(2)]
    submissions_insert(phase, plan, rng)
    return {"challenge": challenge, "phase": phase, "users": users, "organizer": organizer}


def submissions_insert(phase: Any, plan: list[tuple[Any, bool, int]], rng: random.Random) -> list:
    """Scored submissions with results on both boards and gallery rows, as the pipeline
    leaves them (the gallery files themselves are never read by the pages measured)."""
    from scoring.engine.metrics import METRICS
    from scoring.models import GalleryImage, Result
    from submissions.models import Submission

    submissions = [
        Submission(
            id=uuid.uuid4(),
            phase=phase,
            participant=user,
            is_baseline=baseline,
            architecture="transformer_net",
            io_range="0-255",
            checkpoint="bench.safetensors",
            checkpoint_name="bench.safetensors",
            checkpoint_format="safetensors",
            checkpoint_sha256="0" * 64,
            checkpoint_size=1,
            param_count=1_000_000,
            status=Submission.Status.SCORED,
            stage="scored",
            progress=1.0,
            description="Identity baseline" if baseline else "",
        )
        for user, baseline, _ in plan
    ]
    Submission.objects.bulk_create(submissions, batch_size=2000)
    # created_at is set on insert; spread the submissions over the phase afterwards.
    for submission, (_, _, minute) in zip(submissions, plan, strict=True):
        submission.created_at = T0 + dt.timedelta(minutes=minute)
    Submission.objects.bulk_update(submissions, ["created_at"], batch_size=1000)
    results = []
    for submission in submissions:
        for board in ("public", "private"):
            values = {name: rng.uniform(0.1, 3.0) for name in METRICS}
            if rng.random() < 0.01:
                values[rng.choice(METRICS)] = None
            results.append(
                Result(
                    submission=submission,
                    leaderboard=board,
                    references_key="bench",
                    images=10,
                    **values,
                )
            )
    Result.objects.bulk_create(results, batch_size=2000)
    GalleryImage.objects.bulk_create(
        [
            GalleryImage(submission=submission, position=position, file="bench.png")
            for submission in submissions
            for position in range(GALLERY)
        ],
        batch_size=5000,
    )
    return submissions


# --- Measuring -------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(share * (len(ordered) - 1)), len(ordered) - 1)]


def measure_requests(client: Any, url: str, requests: int) -> tuple[int, float, float, int]:
    """(queries of one request, p50 ms, p95 ms, status) of GET url, after a warm-up."""
    from django.db import connection

    for _ in range(5):
        client.get(url)
    queries = []

    def counted(execute: Callable, sql: str, *args: Any) -> Any:
        queries.append(sql)
        return execute(sql, *args)

    # A wrapper, not the query log: the log is cleared when a request starts.
    with connection.execute_wrapper(counted):
        status = client.get(url).status_code
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return len(queries), statistics.median(times), percentile(times, 0.95), status


def measure_updates(data: dict[str, Any], updates: int, rng: random.Random) -> list[float]:
    """Milliseconds of `leaderboard_submission_update` after one new submission's results."""
    from django.utils import timezone

    from leaderboard.services import leaderboard_submission_update

    minutes = int((timezone.now() - T0).total_seconds() // 60)
    times = []
    for _ in range(updates):
        user = rng.choice(data["users"])
        [submission] = submissions_insert(data["phase"], [(user, False, minutes)], rng)
        started = time.perf_counter()
        leaderboard_submission_update(submission_id=submission.pk)
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure_full(phase: Any, repeats: int) -> list[float]:
    from leaderboard.services import leaderboard_recompute

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        leaderboard_recompute(phase=phase)
        times.append((time.perf_counter() - started) * 1000)
    return times


def middle_participant(data: dict[str, Any]) -> Any:
    """A participant ranked about halfway down: their own row is not on the first page."""
    from leaderboard.models import LeaderboardEntry

    entries = LeaderboardEntry.objects.filter(
        phase=data["phase"], leaderboard="public", is_baseline=False
    ).order_by("sort_key")
    return entries[entries.count() // 2].participant


def run(arguments: argparse.Namespace) -> None:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    rng = random.Random(arguments.seed)
    started = time.perf_counter()
    data = populate(arguments.participants, arguments.per_participant, rng)
    with connection.cursor() as cursor:
        # Planner statistics, as autovacuum keeps them on a live database: fresh from a bulk
        # load, PostgreSQL would scan whole tables where an index serves.
        cursor.execute("ANALYZE")
    filled = time.perf_counter() - started
    full = measure_full(data["phase"], 3)
    page = reverse("challenge_leaderboard", args=[SLUG])
    api = reverse("api_leaderboard", args=[SLUG])
    participant = Client()
    participant.force_login(middle_participant(data))
    organizer = Client()
    organizer.force_login(data["organizer"])
    rows = [
        ("page, anonymous", Client(), page),
        ("page, participant (own row)", participant, page),
        ("page, organizer, private", organizer, f"{page}?board=private"),
        ("page, sorted by judge_fd", Client(), f"{page}?sort=judge_fd&page=7"),
        ("JSON, anonymous (100 rows)", Client(), api),
        ("JSON, page 10 of 100 rows", Client(), f"{api}?page=10"),
    ]
    measured = [
        (name, *measure_requests(client, url, arguments.requests)) for name, client, url in rows
    ]
    updates = measure_updates(data, arguments.updates, rng)
    # The average rank depends on everyone's results: each new result recomputes the phase.
    phase = data["phase"]
    phase.ranking_rule, phase.ranking_metrics = "average_rank", "style_distance, judge_realism"
    phase.save(update_fields=["ranking_rule", "ranking_metrics"])
    average_rank = measure_updates(data, 3, rng)

    vendor = connection.vendor
    submissions = arguments.participants * arguments.per_participant
    print(
        f"\nLeaderboard at scale on {vendor}: {arguments.participants} participants, "
        f"{submissions} scored submissions ({2 * submissions} results), "
        f"{arguments.requests} requests each; data inserted in {filled:.1f} s\n"
    )
    print(f"{'request':<32}{'queries':>8}{'p50 ms':>9}{'p95 ms':>9}{'status':>8}")
    for name, queries, p50, p95, status in measured:
        print(f"{name:<32}{queries:>8}{p50:>9.1f}{p95:>9.1f}{status:>8}")
    print(f"\n{'recompute':<32}{'runs':>8}{'p50 ms':>9}{'p95 ms':>9}")
    print(
        f"{'after one new result':<32}{len(updates):>8}"
        f"{statistics.median(updates):>9.1f}{percentile(updates, 0.95):>9.1f}"
    )
    print(
        f"{'after one result, average rank':<32}{len(average_rank):>8}"
        f"{statistics.median(average_rank):>9.1f}{max(average_rank):>9.1f}"
    )
    print(
        f"{'whole phase (rule change)':<32}{len(full):>8}{statistics.median(full):>9.1f}"
        f"{max(full):>9.1f}"
    )
    most_queries = max(row[1] for row in measured)
    page_p50 = max(row[2] for row in measured if row[0].startswith("page"))
    print(
        f"\nqueries ≤ {QUERY_TARGET}: {'yes' if most_queries <= QUERY_TARGET else 'NO'} "
        f"(at most {most_queries}); page p50 < {PAGE_P50_TARGET_MS:.0f} ms: "
        f"{'yes' if page_p50 < PAGE_P50_TARGET_MS else 'NO'} (slowest {page_p50:.1f}); "
        f"update < {UPDATE_TARGET_MS:.0f} ms: "
        f"{'yes' if statistics.median(updates) < UPDATE_TARGET_MS else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--per-participant", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    folder = Path(tempfile.mkdtemp(prefix="atelier-leaderboard-bench-"))
    database_url, drop = scratch_database(folder)
    try:
        setup_django(database_url, folder)
        run(arguments)
    finally:
        drop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
