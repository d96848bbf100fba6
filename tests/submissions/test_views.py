"""Participant pages: the submit form (plain and XHR), the submission page, the My
submissions tab with its filters and actions, and the client download."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from competitions.models import Challenge, Phase
from competitions.services import participation_join
from scoring.engine.metrics import METRIC_HELP
from submissions.models import Submission
from submissions.services import submission_create
from submissions.views import ACCEPTED
from tests.leaderboard.helpers import scored, scores

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


@pytest.fixture
def joined(challenge: Challenge, participant: User) -> Challenge:
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    return challenge


@pytest.fixture
def web(participant: User) -> Client:
    client = Client()
    client.force_login(participant)
    return client


def queued(challenge: Challenge, user: User, checkpoint: Path, description: str = "") -> Submission:
    return submission_create(
        user=user,
        challenge=challenge,
        checkpoint_path=checkpoint,
        checkpoint_name=checkpoint.name,
        architecture="transformer_net",
        description=description,
    )


def test_submit_page_explains_each_architecture(web: Client, joined: Challenge) -> None:
    page = web.get(reverse("challenge_submit", args=[joined.slug])).content.decode()
    assert "Which architecture?" in page
    assert '<dt><code>transformer_net</code> <span class="badge ok">fits this challenge' in page
    assert '<dt><code>adain</code> <span class="badge warn">needs a style input' in page
    assert "Johnson et al. 2016" in page
    assert 'id="upload-bar"' in page
    assert reverse("client_download") in page


def test_xhr_upload_answers_where_to_go(
    web: Client, joined: Challenge, tiny_checkpoint: Path
) -> None:
    url = reverse("challenge_submit", args=[joined.slug])
    with tiny_checkpoint.open("rb") as handle:
        response = web.post(url, {"checkpoint": handle, "architecture": "transformer_net"}, **XHR)
    assert response.status_code == 201
    submission = Submission.objects.get()
    assert response.json() == {"location": submission.get_absolute_url()}
    # The message waits for the page the script goes to.
    assert ACCEPTED in web.get(submission.get_absolute_url()).content.decode()


def test_refused_xhr_upload_gets_the_form_area_with_the_error(
    web: Client, joined: Challenge, tiny_checkpoint: Path
) -> None:
    url = reverse("challenge_submit", args=[joined.slug])
    with tiny_checkpoint.open("rb") as handle:
        response = web.post(
            url,
            {"checkpoint": handle, "architecture": "transformer_net", "config": '{"width": 8}'},
            **XHR,
        )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert '<div id="submit-area">' in page
    assert "[config_mismatch]" in page
    assert not Submission.objects.exists()


def test_submission_page_shows_progress_and_explains_metrics(
    web: Client, joined: Challenge, participant: User, tiny_checkpoint: Path
) -> None:
    submission = queued(joined, participant, tiny_checkpoint)
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.RUNNING, stage="generating 3/10", progress=0.3
    )
    page = web.get(submission.get_absolute_url()).content.decode()
    assert 'data-status="running"' in page
    assert '<span id="percent">30%</span>' in page
    assert "generating 3/10" in page

    done = scored(joined.phases.get(), participant, public=scores(composite=2.5))
    page = web.get(done.get_absolute_url()).content.decode()
    assert f'<small class="help">{escape(METRIC_HELP["judge_realism"])}</small>' in page
    assert "↑ higher is better" in page
    assert "2.5000" in page


def test_failed_submission_shows_its_code_and_message(
    web: Client, joined: Challenge, participant: User, tiny_checkpoint: Path
) -> None:
    submission = queued(joined, participant, tiny_checkpoint)
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.FAILED,
        error_code="time_limit",
        error_message="The generator took longer than 60 s.",
    )
    page = web.get(submission.get_absolute_url()).content.decode()
    assert "<strong>time_limit</strong>: The generator took longer than 60 s." in page
    assert "does not count against your quota" in page


def test_my_submissions_is_a_tab_of_the_challenge_page(
    web: Client, joined: Challenge, participant: User, tiny_checkpoint: Path
) -> None:
    second = queued(joined, participant, tiny_checkpoint, description="second try")
    Submission.objects.filter(pk=second.pk).update(
        status=Submission.Status.FAILED, error_code="crash", error_message="It crashed."
    )
    first = queued(joined, participant, tiny_checkpoint, description="first try")
    url = reverse("my_submissions", args=[joined.slug])

    page = web.get(url).content.decode()
    assert "<h1>Challenge A</h1>" in page
    assert 'aria-current="page" class="active">My submissions</a>' in page
    assert "All (2)" in page
    assert "Queued (1)" in page
    assert "Failed (1)" in page
    assert "first try" in page
    assert "second try" in page

    page = web.get(url, {"status": "failed"}).content.decode()
    assert "second try" in page
    assert "first try" not in page
    # Only the queued one can be cancelled.
    page = web.get(url).content.decode()
    assert page.count(">Cancel</button>") == 1
    assert reverse("submission_cancel", args=[first.pk]) in page


def test_cancel_from_the_list_returns_to_the_list(
    web: Client, joined: Challenge, participant: User, tiny_checkpoint: Path
) -> None:
    submission = queued(joined, participant, tiny_checkpoint)
    back = reverse("my_submissions", args=[joined.slug]) + "?status=queued"
    cancel = reverse("submission_cancel", args=[submission.pk])
    response = web.post(cancel, {"next": back})
    assert response["Location"] == back
    submission.refresh_from_db()
    assert submission.status == Submission.Status.CANCELLED


def test_cancel_ignores_a_next_address_elsewhere(
    web: Client, joined: Challenge, participant: User, tiny_checkpoint: Path
) -> None:
    submission = queued(joined, participant, tiny_checkpoint)
    cancel = reverse("submission_cancel", args=[submission.pk])
    response = web.post(cancel, {"next": "https://elsewhere.example/phish"})
    assert response["Location"] == submission.get_absolute_url()


def test_select_for_final_is_offered_in_the_list(
    web: Client, joined: Challenge, participant: User
) -> None:
    phase = joined.phases.get()
    Phase.objects.filter(pk=phase.pk).update(representation=Phase.Representation.SELECTED)
    phase.refresh_from_db()
    submission = scored(phase, participant, public=scores())
    page = web.get(reverse("my_submissions", args=[joined.slug])).content.decode()
    assert reverse("submission_final_select", args=[submission.pk]) in page
    assert "Select for final</button>" in page

    Submission.objects.filter(pk=submission.pk).update(selected_for_final=True)
    page = web.get(reverse("my_submissions", args=[joined.slug])).content.decode()
    assert '<span class="badge ok">Final</span>' in page
    assert "Unselect</button>" in page


def test_my_submissions_costs_the_same_queries_for_one_row_or_many(
    web: Client, joined: Challenge, participant: User
) -> None:
    """Select-for-final state is fetched for the whole page at once, not row by row."""
    phase = joined.phases.get()
    Phase.objects.filter(pk=phase.pk).update(representation=Phase.Representation.SELECTED)
    phase.refresh_from_db()
    url = reverse("my_submissions", args=[joined.slug])
    scored(phase, participant, public=scores())
    with CaptureQueriesContext(connection) as one:
        assert web.get(url).status_code == 200
    for _ in range(5):
        scored(phase, participant, public=scores())
    with CaptureQueriesContext(connection) as six:
        page = web.get(url).content.decode()
    assert page.count("Select for final</button>") == 6
    assert len(six.captured_queries) == len(one.captured_queries)


def test_select_for_final_returns_to_the_list_and_nowhere_else(
    web: Client, joined: Challenge, participant: User
) -> None:
    phase = joined.phases.get()
    Phase.objects.filter(pk=phase.pk).update(representation=Phase.Representation.SELECTED)
    submission = scored(phase, participant, public=scores())
    select = reverse("submission_final_select", args=[submission.pk])
    back = reverse("my_submissions", args=[joined.slug]) + "?status=scored"

    response = web.post(select, {"selected": "1", "next": back})
    assert response["Location"] == back
    submission.refresh_from_db()
    assert submission.selected_for_final

    response = web.post(select, {"selected": "0", "next": "//elsewhere.example/phish"})
    assert response["Location"] == submission.get_absolute_url()
    submission.refresh_from_db()
    assert not submission.selected_for_final


def test_outsider_sees_only_own_submissions(
    joined: Challenge, participant: User, outsider: User, tiny_checkpoint: Path
) -> None:
    queued(joined, participant, tiny_checkpoint, description="not yours")
    client = Client()
    client.force_login(outsider)
    page = client.get(reverse("my_submissions", args=[joined.slug])).content.decode()
    assert "not yours" not in page
    assert "No submissions yet." in page
    assert Client().get(reverse("my_submissions", args=[joined.slug])).status_code == 302


def test_client_download_serves_the_single_file(client: Client, challenge: Challenge) -> None:
    response = client.get(reverse("client_download"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/x-python"
    assert response["Content-Disposition"] == 'attachment; filename="atelier.py"'
    assert b"".join(response.streaming_content) == (ROOT / "atelier_cli.py").read_bytes()
    data_tab = client.get(reverse("challenge_tab", args=[challenge.slug, "data"]))
    assert reverse("client_download") in data_tab.content.decode()
