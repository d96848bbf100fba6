"""95 % intervals on the leaderboard: the API's entries, `value ± half-width` and "tied with #1"
on the page, bound columns in the CSV; private intervals hidden until the reveal, like every
other private number, and per-image values shown nowhere."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from competitions.models import Challenge, Phase
from competitions.services import phase_reveal
from leaderboard import selectors
from submissions.models import Submission
from tests.leaderboard.helpers import joined, scored

pytestmark = pytest.mark.django_db

TIED = "tied with #1</span>"


@pytest.fixture
def phase(challenge: Challenge) -> Phase:
    return challenge.phases.get()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def page_of(client: Client, challenge: Challenge, **query: str) -> str:
    response = client.get(reverse("challenge_leaderboard", args=[challenge.slug]), query)
    assert response.status_code == 200
    return response.content.decode()


def row_of(page: str, participant: str) -> str:
    """The table row of a participant (or of a baseline, by its name)."""
    at = page.index(f"<td>{participant}")
    return page[page.rindex("<tr", 0, at) : page.index("</tr>", at)]


def set_rule(phase: Phase, rule: str, metrics: str = "") -> None:
    Phase.objects.filter(pk=phase.pk).update(ranking_rule=rule, ranking_metrics=metrics)


@pytest.fixture
def board(phase: Phase, challenge: Challenge, organizer) -> dict[str, Submission]:
    """ada leads; bob's interval overlaps hers, carl's does not; dan's result has none."""
    names = ("ada", "bob", "carl", "dan")
    ada, bob, carl, dan = (joined(challenge, name) for name in names)
    return {
        "ada": scored(
            phase,
            ada,
            public={"composite": 1.0},
            intervals={"composite": [0.9, 1.1], "content_distance": [0.5, 0.7]},
        ),
        "bob": scored(
            phase, bob, public={"composite": 1.05}, intervals={"composite": [1.02, 1.15]}
        ),
        "carl": scored(phase, carl, public={"composite": 2.0}, intervals={"composite": [1.8, 2.2]}),
        "dan": scored(phase, dan, public={"composite": 3.0}),
        "baseline": scored(
            phase,
            organizer,
            public={"composite": 1.5},
            intervals={"composite": [1.08, 1.9]},
            baseline=True,
            description="Identity",
        ),
    }


# --- The API ----------------------------------------------------------------------------------


def test_api_entries_carry_their_intervals(challenge: Challenge, board) -> None:
    entries = api().get(reverse("api_leaderboard", args=[challenge.slug])).json()["entries"]
    by_name = {entry["participant"]: entry for entry in entries}
    assert by_name["ada"]["intervals"] == {"composite": [0.9, 1.1], "content_distance": [0.5, 0.7]}
    assert by_name["bob"]["intervals"] == {"composite": [1.02, 1.15]}
    assert by_name["organizer-a"]["intervals"] == {"composite": [1.08, 1.9]}
    # A result scored before intervals existed: none, and its value as before.
    assert by_name["dan"]["intervals"] == {}
    assert by_name["dan"]["scores"]["composite"] == 3.0
    # The intervals change nothing in the order.
    ranked = [(entry["rank"], entry["participant"]) for entry in entries if entry["rank"]]
    assert ranked == [(1, "ada"), (2, "bob"), (3, "carl"), (4, "dan")]


def test_the_submission_api_carries_the_intervals_of_its_scores(challenge: Challenge, board):
    ada = challenge.participations.get(user__username="ada").user
    url = reverse("api_submission_detail", args=[board["ada"].pk])
    body = api(ada).get(url).json()
    assert body["intervals"] == {
        "public": {"content_distance": [0.5, 0.7], "composite": [0.9, 1.1]}
    }


def test_the_schema_documents_the_intervals(client: Client) -> None:
    schema = client.get(reverse("api_schema"), {"format": "json"}).json()
    components = schema["components"]["schemas"]
    entry = components["LeaderboardEntry"]
    assert "intervals" in entry["required"]
    interval = entry["properties"]["intervals"]["additionalProperties"]
    assert interval["type"] == "array"
    assert (interval["minItems"], interval["maxItems"]) == (2, 2)
    assert interval["items"]["type"] == "number"
    assert "95 % bootstrap interval" in entry["properties"]["intervals"]["description"]
    status = components["SubmissionStatus"]["properties"]["intervals"]
    assert status["additionalProperties"]["additionalProperties"]["maxItems"] == 2


# --- The page ---------------------------------------------------------------------------------


def test_the_page_shows_the_composite_with_its_half_width_and_ties(
    client: Client, challenge: Challenge, board
) -> None:
    page = page_of(client, challenge)
    ada, bob, carl, dan = (row_of(page, name) for name in ("ada", "bob", "carl", "dan"))
    assert '1 <span class="interval" title="95 % interval [0.9, 1.1]">± 0.1</span>' in ada
    assert TIED not in ada  # the leader is #1, not tied with it
    assert "1.05" in bob
    assert "± 0.065" in bob
    assert TIED in bob
    # The marker explains itself to a pointer (tooltip) and in its own words (visible text).
    assert 'title="Statistically tied with #1: its 95 % interval overlaps the leader\'s."' in bob
    assert "± 0.2" in carl
    assert TIED not in carl  # [1.8, 2.2] is clear of [0.9, 1.1]
    assert "<td>3</td>" in dan
    assert "±" not in dan
    assert TIED not in dan
    # A baseline is compared with #1 too (but takes no rank).
    assert TIED in row_of(page, "organizer-a")
    # Only the ranked score carries its interval: content_distance has one, shown in the API.
    assert "0.5, 0.7" not in page
    assert "“tied with #1”: its 95 % interval overlaps the leader" in page


def test_the_leader_is_compared_with_from_every_page(
    client: Client, challenge: Challenge, board, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "PAGE_SIZE", 1)
    # One row a page: ada (the leader) on page 1, bob on page 2, the baseline on page 3.
    for number, name in (("2", "bob"), ("3", "organizer-a")):
        page = page_of(client, challenge, page=number)
        assert "<td>ada" not in page
        assert TIED in row_of(page, name)
    # Sorted by another metric, the marker still compares with the row ranked #1.
    # Worst first: dan, carl, the baseline, bob, ada.
    assert TIED not in row_of(page_of(client, challenge, sort="-composite", page="2"), "carl")
    assert TIED in row_of(page_of(client, challenge, sort="-composite", page="4"), "bob")


def test_under_a_primary_metric_its_interval_decides(
    client: Client, phase: Phase, challenge: Challenge
) -> None:
    set_rule(phase, "primary", "judge_realism")
    both = {"composite": [0.5, 5.0]}
    scored(
        phase,
        joined(challenge, "ada"),
        public={"judge_realism": 0.9},
        intervals={"judge_realism": [0.85, 0.95], **both},
    )
    scored(
        phase,
        joined(challenge, "bob"),
        public={"judge_realism": 0.8},
        intervals={"judge_realism": [0.7, 0.86], **both},
    )
    scored(
        phase,
        joined(challenge, "carl"),
        public={"judge_realism": 0.5},
        intervals={"judge_realism": [0.45, 0.55], **both},
    )
    page = page_of(client, challenge)
    assert "Ranked by judge_realism (higher is better)" in page
    assert "± 0.05" in row_of(page, "ada")
    assert TIED in row_of(page, "bob")
    # carl's composite interval overlaps everyone's, but the composite does not rank here.
    assert TIED not in row_of(page, "carl")
    assert "[0.5, 5]" not in page


@pytest.mark.parametrize(
    ("rule", "metrics"), [("weighted", "composite:1"), ("average_rank", "composite")]
)
def test_scores_without_an_interval_get_no_marker(
    client: Client, phase: Phase, challenge: Challenge, rule: str, metrics: str
) -> None:
    set_rule(phase, rule, metrics)
    for name, value in (("ada", 1.0), ("bob", 1.01)):
        scored(
            phase,
            joined(challenge, name),
            public={"composite": value},
            intervals={"composite": [0.5, 1.5]},
        )
    page = page_of(client, challenge)
    assert TIED not in page
    assert "±" not in page


# --- CSV --------------------------------------------------------------------------------------


def test_the_csv_has_bound_columns_for_metrics_with_intervals(
    challenge: Challenge, board, organizer
) -> None:
    response = logged_in(organizer).get(reverse("leaderboard_csv", args=[challenge.slug]))
    header, *lines = csv.reader(io.StringIO(response.content.decode()))
    assert header[-4:] == [
        "content_distance_low",
        "content_distance_high",
        "composite_low",
        "composite_high",
    ]
    assert header[: header.index("content_distance_low")][-1] == "last_submitted_at"
    rows = {
        row["participant"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))
    }
    assert [rows["ada"][f"composite_{end}"] for end in ("low", "high")] == ["0.9", "1.1"]
    assert rows["ada"]["content_distance_low"] == "0.5"
    assert rows["bob"]["content_distance_low"] == ""
    assert [rows["dan"][f"composite_{end}"] for end in ("low", "high")] == ["", ""]
    assert len(lines) == 5


def test_a_board_without_intervals_exports_no_bound_columns(
    phase: Phase, challenge: Challenge, organizer
) -> None:
    scored(phase, joined(challenge, "ada"))
    response = logged_in(organizer).get(reverse("leaderboard_csv", args=[challenge.slug]))
    header = next(csv.reader(io.StringIO(response.content.decode())))
    assert header[-1] == "last_submitted_at"
    assert not any(name.endswith(("_low", "_high")) for name in header)


# --- The private board ------------------------------------------------------------------------

PRIVATE_INTERVALS = {
    "composite": [0.7001234567, 1.1271234567],
    "content_distance": [0.2345678901, 0.3456789012],
}
PRIVATE_TRACES = ("0.7001", "1.127", "700123", "127123", "0.2345", "0.3456", "234567", "345678")
# Per-image values of hidden images: stored for the record, shown to nobody.
PER_IMAGE = {"content_distance": [0.4444123, 0.5555123]}
PER_IMAGE_TRACES = ("0.4444", "0.5555", "444412", "555512")


def leaks(text: str, traces: tuple[str, ...] = PRIVATE_TRACES + PER_IMAGE_TRACES) -> list[str]:
    return [trace for trace in traces if trace in text]


@pytest.fixture
def private(phase: Phase, challenge: Challenge) -> Submission:
    ada = joined(challenge, "ada")
    joined(challenge, "bob")
    return scored(
        phase,
        ada,
        public={"composite": 2.0},
        private={"composite": 0.9},
        intervals={"composite": [1.9, 2.1]},
        private_intervals=PRIVATE_INTERVALS,
        per_image=PER_IMAGE,
    )


def viewers(challenge: Challenge) -> dict[str, tuple[Client, APIClient]]:
    """Anonymous, the submitting participant and another participant: web and API clients."""
    clients = {"anonymous": (Client(), APIClient())}
    for name in ("ada", "bob"):
        user = challenge.participations.get(user__username=name).user
        clients[name] = (logged_in(user), api(user))
    return clients


def end_phase(phase: Phase) -> None:
    Phase.objects.filter(pk=phase.pk).update(
        starts_at=timezone.now() - dt.timedelta(days=30),
        ends_at=timezone.now() - dt.timedelta(minutes=1),
    )
    phase.refresh_from_db()


def submission_views(web: Client, client: APIClient, submission: Submission) -> dict[str, str]:
    """Everything the submitting participant can read about their submission."""
    return {
        "page": web.get(submission.get_absolute_url()).content.decode(),
        "status": web.get(reverse("submission_status", args=[submission.pk])).content.decode(),
        "api": client.get(reverse("api_submission_detail", args=[submission.pk])).content.decode(),
    }


def test_private_intervals_reach_nobody_before_the_reveal(
    challenge: Challenge, phase: Phase, private: Submission
) -> None:
    end_phase(phase)  # ended, but not revealed: still hidden
    page = reverse("challenge_leaderboard", args=[challenge.slug])
    board_api = reverse("api_leaderboard", args=[challenge.slug])
    export = reverse("leaderboard_csv", args=[challenge.slug])
    for who, (web, client) in viewers(challenge).items():
        public_page = web.get(page)
        assert "± 0.1" in public_page.content.decode(), who  # the public interval is shown
        assert leaks(public_page.content.decode()) == [], who
        hidden_page = web.get(page, {"board": "private"})
        assert hidden_page.status_code == 403
        assert leaks(hidden_page.content.decode()) == [], who
        public_body = client.get(board_api, {"board": "public"})
        assert public_body.json()["entries"][0]["intervals"] == {"composite": [1.9, 2.1]}
        assert leaks(public_body.content.decode()) == [], who
        denied = client.get(board_api, {"board": "private"})
        assert denied.status_code == 403
        assert leaks(denied.content.decode()) == [], who
        for board in ("public", "private"):
            csv_response = web.get(export, {"board": board})
            assert csv_response.status_code == 403
            assert leaks(csv_response.content.decode()) == [], who
    web, client = viewers(challenge)["ada"]
    for name, text in submission_views(web, client, private).items():
        assert leaks(text) == [], name
    body = client.get(reverse("api_submission_detail", args=[private.pk])).json()
    assert list(body["intervals"]) == ["public"]
    assert list(body["scores"]) == ["public"]


def test_everyone_sees_the_private_intervals_after_the_reveal(
    challenge: Challenge, phase: Phase, private: Submission
) -> None:
    end_phase(phase)
    phase_reveal(phase=phase)
    page = reverse("challenge_leaderboard", args=[challenge.slug])
    board_api = reverse("api_leaderboard", args=[challenge.slug])
    for who, (web, client) in viewers(challenge).items():
        text = web.get(page, {"board": "private"}).content.decode()
        assert "95 % interval [0.7001, 1.127]" in text, who
        assert leaks(text, PER_IMAGE_TRACES) == [], who
        entry = client.get(board_api, {"board": "private"}).json()["entries"][0]
        assert entry["intervals"] == PRIVATE_INTERVALS, who
    web, client = viewers(challenge)["ada"]
    body = client.get(reverse("api_submission_detail", args=[private.pk])).json()
    assert body["intervals"]["private"] == PRIVATE_INTERVALS
    assert body["intervals"]["public"] == {"composite": [1.9, 2.1]}
    for name, text in submission_views(web, client, private).items():
        assert leaks(text, PER_IMAGE_TRACES) == [], name


def test_organizers_always_see_the_private_intervals_but_never_per_image_values(
    challenge: Challenge, phase: Phase, private: Submission, organizer
) -> None:
    web, client = logged_in(organizer), api(organizer)
    text = web.get(reverse("challenge_leaderboard", args=[challenge.slug]), {"board": "private"})
    assert "95 % interval [0.7001, 1.127]" in text.content.decode()
    body = client.get(reverse("api_leaderboard", args=[challenge.slug]), {"board": "private"})
    assert body.json()["entries"][0]["intervals"] == PRIVATE_INTERVALS
    export = web.get(reverse("leaderboard_csv", args=[challenge.slug]), {"board": "private"})
    row = next(csv.DictReader(io.StringIO(export.content.decode())))
    assert (row["composite_low"], row["composite_high"]) == ("0.7001234567", "1.1271234567")
    outputs = [text.content.decode(), body.content.decode(), export.content.decode()]
    outputs += submission_views(web, client, private).values()
    for output in outputs:
        assert leaks(output, PER_IMAGE_TRACES) == []
