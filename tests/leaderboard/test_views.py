"""The Leaderboard tab, its CSV export, gallery thumbnails, the selection form, the admin."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from competitions.models import Challenge, Participation, Phase
from leaderboard import selectors
from leaderboard.models import Disqualification, LeaderboardEntry
from leaderboard.views import EXPORT_FORBIDDEN
from scoring.engine import METRICS
from scoring.models import GalleryImage
from submissions.models import Submission
from tests.factories import make_challenge
from tests.leaderboard.helpers import joined, scored

pytestmark = pytest.mark.django_db

MAX_QUERIES = 10


@pytest.fixture
def phase(challenge: Challenge) -> Phase:
    return challenge.phases.get()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_of(client: Client, challenge: Challenge, **query: str) -> str:
    response = client.get(reverse("challenge_leaderboard", args=[challenge.slug]), query)
    assert response.status_code == 200
    return response.content.decode()


def with_gallery(submission: Submission, count: int = 3) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "purple").save(buffer, format="PNG")
    for position in range(count):
        name = default_storage.save(
            f"submissions/{submission.pk}/gallery/{position}.png", ContentFile(buffer.getvalue())
        )
        GalleryImage.objects.create(submission=submission, position=position, file=name)


# --- The page --------------------------------------------------------------------------------


def test_the_tab_shows_ranks_metrics_directions_and_marks(client: Client, phase, challenge) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    scored(phase, bob, public={"composite": 2.0}, stale=True)
    scored(phase, ada, public={"composite": 1.25, "judge_realism": 0.875}, calibrated=False)
    organizer = challenge.organizers.get()
    scored(phase, organizer, public={"composite": 1.5}, baseline=True, description="Identity")
    page = page_of(client, challenge)
    table = page[page.index('<table class="leaderboard"') :]
    assert table.index("ada") < table.index("Identity") < table.index("bob")
    for name in METRICS:
        assert f">{name}</a>" in page
    assert "↓" in page
    assert "↑" in page
    assert '<span class="badge">Baseline</span>' in page
    assert ">stale</span>" in page
    assert "† uncalibrated" in page
    assert "1.25" in page
    assert "0.875" in page
    assert "Ranked by the default composite score" in page
    assert 'aria-current="page" class="active">Leaderboard' in page


def test_the_tab_is_in_the_challenge_navigation(client: Client, challenge) -> None:
    overview = client.get(challenge.get_absolute_url()).content.decode()
    assert f'href="/challenges/{challenge.slug}/leaderboard/"' in overview


def test_the_participants_own_row_is_highlighted(phase, challenge) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    scored(phase, ada, public={"composite": 1.0})
    scored(phase, bob, public={"composite": 2.0})
    page = page_of(logged_in(bob), challenge)
    row = page[page.index('<tr class="own') :]
    assert row.index("bob") < row.index("</tr>")
    assert page.count('<tr class="own') == 1


def test_the_own_row_is_pinned_on_top_when_on_another_page(
    phase, challenge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    users = [joined(challenge, f"p{index}") for index in range(5)]
    for index, user in enumerate(users):
        scored(phase, user, public={"composite": float(index)})
    page = page_of(logged_in(users[4]), challenge)
    assert "Page 1 of 3" in page
    pinned = page[page.index('<tr class="own pinned') :]
    assert pinned.index("p4") < pinned.index("(you)") < pinned.index("</tr>")
    assert "<td>5</td>" in pinned[: pinned.index("</tr>")]
    page3 = page_of(logged_in(users[4]), challenge, page="3")
    assert "pinned" not in page3
    assert '<tr class="own' in page3


def test_sorting_by_a_metric_reorders_and_keeps_ranks(client: Client, phase, challenge) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    scored(phase, ada, public={"composite": 1.0, "judge_realism": 0.1})
    scored(phase, bob, public={"composite": 2.0, "judge_realism": 0.9})
    page = page_of(client, challenge, sort="judge_realism")
    assert page.index(">bob") < page.index(">ada")
    assert 'aria-sort="ascending"' in page
    assert "sort=-judge_realism" in page
    reversed_page = page_of(client, challenge, sort="-judge_realism")
    assert reversed_page.index(">ada") < reversed_page.index(">bob")


def test_the_chart_of_the_best_score_is_an_inline_svg(client: Client, phase, challenge) -> None:
    ada = joined(challenge, "ada")
    scored(phase, ada, public={"composite": 2.0}, minute=0)
    scored(phase, ada, public={"composite": 1.5}, minute=5)
    organizer = challenge.organizers.get()
    scored(phase, organizer, public={"composite": 1.75}, baseline=True, description="Identity")
    page = page_of(client, challenge)
    assert '<svg viewBox="0 0 640 220" role="img"' in page
    assert "Best composite over time (lower is better)" in page
    assert page.count("<circle") == 2
    assert '<line class="baseline"' in page
    assert "Identity: 1.75" in page


def test_an_empty_leaderboard_says_so(client: Client, challenge) -> None:
    page = page_of(client, challenge)
    assert "No scored submission on this leaderboard yet." in page


def test_an_unknown_phase_or_board_is_not_found(client: Client, challenge) -> None:
    url = reverse("challenge_leaderboard", args=[challenge.slug])
    assert client.get(url, {"phase": "Nope"}).status_code == 404
    assert client.get(url, {"board": "secret"}).status_code == 404


def test_drafts_have_no_public_leaderboard(client: Client, organizer) -> None:
    draft = make_challenge(slug="draft", organizers=(organizer,), status="draft")
    url = reverse("challenge_leaderboard", args=[draft.slug])
    assert client.get(url).status_code == 404
    assert logged_in(organizer).get(url).status_code == 200


def test_the_page_runs_a_constant_number_of_queries(
    phase, challenge, django_assert_max_num_queries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "PAGE_SIZE", 5)
    watcher = joined(challenge, "watcher")
    counts = []
    for size in (6, 20):
        for index in range(size - LeaderboardEntry.objects.filter(leaderboard="public").count()):
            submission = scored(phase, joined(challenge, f"u{size}-{index}"), minute=index)
            with_gallery(submission)
        # The watcher ranks last, off the first page: their row is fetched on its own.
        LeaderboardEntry.objects.filter(participant=watcher).delete()
        scored(phase, watcher, public={"composite": 99.0}, minute=0)
        client = logged_in(watcher)
        with django_assert_max_num_queries(MAX_QUERIES):
            page = page_of(client, challenge)
        assert 'class="strip"' in page
        assert "pinned" in page
        with CaptureQueriesContext(connection) as queries:
            page_of(client, challenge)
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- CSV ------------------------------------------------------------------------------------


def test_organizers_export_both_leaderboards_as_csv(phase, challenge, organizer) -> None:
    ada = joined(challenge, "ada")
    submission = scored(phase, ada, public={"composite": 1.5}, private={"composite": 2.5})
    client = logged_in(organizer)
    url = reverse("leaderboard_csv", args=[challenge.slug])
    for board, composite in (("public", "1.5"), ("private", "2.5")):
        response = client.get(url, {"phase": "Development", "board": board})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert f"challenge-a-development-{board}.csv" in response["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert len(rows) == 1
        assert rows[0]["rank"] == "1"
        assert rows[0]["participant"] == "ada"
        assert rows[0]["submission"] == str(submission.pk)
        assert rows[0]["composite"] == composite


def test_participants_and_visitors_cannot_export(client: Client, phase, challenge) -> None:
    ada = joined(challenge, "ada")
    scored(phase, ada)
    url = reverse("leaderboard_csv", args=[challenge.slug])
    for viewer in (client, logged_in(ada)):
        response = viewer.get(url)
        assert response.status_code == 403
        assert response.content.decode() == EXPORT_FORBIDDEN


# --- Gallery thumbnails ----------------------------------------------------------------------


def test_participants_see_thumbnails_of_ranked_submissions(
    client: Client, phase, challenge
) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    submission = scored(phase, ada)
    with_gallery(submission, count=5)
    page = page_of(logged_in(bob), challenge)
    url = reverse("leaderboard_gallery_image", args=[challenge.slug, submission.pk, 0])
    assert url in page
    assert page.count(f"/leaderboard/gallery/{submission.pk}/") == 3
    response = logged_in(bob).get(url)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (32, 32)
    # The public photos need the rules accepted: so do outputs made from them.
    assert "/leaderboard/gallery/" not in page_of(client, challenge)
    assert client.get(url).status_code == 404


def test_thumbnails_of_submissions_off_the_leaderboards_are_not_served(
    phase, challenge, organizer
) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    submission = scored(phase, ada)
    with_gallery(submission)
    Disqualification.objects.create(submission=submission, reason="x")
    LeaderboardEntry.objects.filter(submission=submission).delete()
    url = reverse("leaderboard_gallery_image", args=[challenge.slug, submission.pk, 0])
    assert logged_in(bob).get(url).status_code == 404


# --- Selecting for the final ranking on the submission page ----------------------------------


def test_the_submission_page_offers_selection_for_the_final_ranking(phase, challenge) -> None:
    Phase.objects.filter(pk=phase.pk).update(representation="selected", max_selected=1)
    ada = joined(challenge, "ada")
    submission = scored(phase, ada)
    client = logged_in(ada)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "Select for the final ranking" in page
    assert "You have selected 0 of at most 1" in page
    url = reverse("submission_final_select", args=[submission.pk])
    response = client.post(url, {"selected": "1"})
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.selected_for_final
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "Selected for the final ranking" in page
    assert "Unselect" in page
    assert LeaderboardEntry.objects.get(leaderboard="public").selection == "selected"


def test_selection_errors_are_shown_as_messages(phase, challenge) -> None:
    ada = joined(challenge, "ada")
    submission = scored(phase, ada)
    client = logged_in(ada)
    response = client.post(
        reverse("submission_final_select", args=[submission.pk]), {"selected": "1"}, follow=True
    )
    assert "ranks each participant&#x27;s best submission" in response.content.decode()
    assert "Select for the final ranking" not in response.content.decode()


def test_a_disqualification_is_shown_to_the_participant(phase, challenge, organizer) -> None:
    ada = joined(challenge, "ada")
    submission = scored(phase, ada)
    Disqualification.objects.create(submission=submission, reason="Used test photos.")
    page = logged_in(ada).get(submission.get_absolute_url()).content.decode()
    assert "Disqualified</strong>: Used test photos." in page


# --- The organizers' admin -------------------------------------------------------------------


def test_changing_the_rule_in_the_admin_recomputes(phase, challenge, organizer) -> None:
    ada, bob = joined(challenge, "ada"), joined(challenge, "bob")
    scored(phase, ada, public={"composite": 1.0, "judge_realism": 0.1})
    scored(phase, bob, public={"composite": 2.0, "judge_realism": 0.9})
    client = logged_in(organizer)
    url = reverse("admin:competitions_challenge_change", args=[challenge.pk])
    form = client.get(url).context["adminform"].form
    inline = client.get(url).context["inline_admin_formsets"][0].formset
    data = {key: value for key, value in form.initial.items() if value is not None}
    data["organizers"] = [organizer.pk]
    data.update(
        {
            f"{inline.prefix}-TOTAL_FORMS": "1",
            f"{inline.prefix}-INITIAL_FORMS": "1",
            f"{inline.prefix}-0-id": str(phase.pk),
            f"{inline.prefix}-0-challenge": str(challenge.pk),
            f"{inline.prefix}-0-name": phase.name,
            f"{inline.prefix}-0-starts_at_0": phase.starts_at.strftime("%Y-%m-%d"),
            f"{inline.prefix}-0-starts_at_1": phase.starts_at.strftime("%H:%M:%S"),
            f"{inline.prefix}-0-ends_at_0": phase.ends_at.strftime("%Y-%m-%d"),
            f"{inline.prefix}-0-ends_at_1": phase.ends_at.strftime("%H:%M:%S"),
            f"{inline.prefix}-0-max_per_day": "5",
            f"{inline.prefix}-0-max_total": "100",
            f"{inline.prefix}-0-max_running": "1",
            f"{inline.prefix}-0-time_limit_s": "600",
            f"{inline.prefix}-0-max_params": "20000000",
            f"{inline.prefix}-0-max_checkpoint_bytes": str(200 * 1024 * 1024),
            f"{inline.prefix}-0-ranking_rule": "primary",
            f"{inline.prefix}-0-ranking_metrics": "judge_realism",
            f"{inline.prefix}-0-representation": "best",
            f"{inline.prefix}-0-max_selected": "2",
        }
    )
    bad = client.post(url, {**data, f"{inline.prefix}-0-ranking_metrics": "realism"})
    assert bad.status_code == 200
    assert "Unknown metric “realism”" in bad.content.decode()
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rows = selectors.leaderboard_rows(phase=phase, board="public")
    assert [row.participant for row in rows] == ["bob", "ada"]


def test_the_reveal_action_reveals_ended_phases_only(phase, challenge, organizer) -> None:
    client = logged_in(organizer)
    url = reverse("admin:competitions_challenge_changelist")
    action = {"action": "reveal_private", "_selected_action": [challenge.pk]}
    page = client.post(url, action, follow=True).content.decode()
    assert "no ended phase left to reveal" in page
    Phase.objects.filter(pk=phase.pk).update(
        starts_at=phase.starts_at.replace(year=2020), ends_at=phase.starts_at.replace(year=2021)
    )
    page = client.post(url, action, follow=True).content.decode()
    assert "private leaderboard of Development revealed" in page
    phase.refresh_from_db()
    assert phase.private_revealed
    client.post(url, {"action": "hide_private", "_selected_action": [challenge.pk]})
    phase.refresh_from_db()
    assert not phase.private_revealed


def test_banning_in_the_admin_takes_the_participant_off(phase, challenge, organizer) -> None:
    ada = joined(challenge, "ada")
    scored(phase, ada)
    participation = Participation.objects.get(user=ada)
    logged_in(organizer).post(
        reverse("admin:competitions_participation_changelist"),
        {"action": "ban", "_selected_action": [participation.pk]},
    )
    assert not LeaderboardEntry.objects.exists()


def test_organizers_disqualify_and_requalify_in_the_admin(
    phase, challenge, organizer, other_organizer
) -> None:
    ada = joined(challenge, "ada")
    submission = scored(phase, ada)
    page = page_of(logged_in(organizer), challenge)
    add = reverse("admin:leaderboard_disqualification_add")
    assert f"{add}?submission={submission.pk}" in page
    # Another challenge's organizer cannot pick this submission.
    response = logged_in(other_organizer).post(
        add, {"submission": submission.pk, "reason": "Mine now."}
    )
    assert response.status_code == 200
    assert not Disqualification.objects.exists()

    response = logged_in(organizer).post(
        add, {"submission": submission.pk, "reason": "Copied a style image."}
    )
    assert response.status_code == 302
    disqualification = Disqualification.objects.get()
    assert disqualification.decided_by == organizer
    assert not LeaderboardEntry.objects.exists()

    delete = reverse("admin:leaderboard_disqualification_delete", args=[disqualification.pk])
    logged_in(organizer).post(delete, {"post": "yes"})
    assert LeaderboardEntry.objects.filter(submission=submission).count() == 2
