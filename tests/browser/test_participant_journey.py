"""A participant's whole journey in a real browser against a live server and a real worker:
sign up, join, download the data, submit a checkpoint through the form, watch it being
scored, see the gallery and the leaderboard row; then start a forum thread, which an
organizer (in a browser of their own) pins and locks.

The journey is one test written as numbered steps with no helpers in between, so that later
steps (the forum) can be appended at its end.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from competitions.models import Challenge, Participation
from competitions.services import participation_join
from forum.models import Post, Thread
from scoring.models import ScoringProfile
from submissions.models import Submission
from tests.factories import PASSWORD, UserFactory, make_forum_thread
from tests.leaderboard.helpers import scored, scores
from tests.models.checkpoint_files import random_network, save_safetensors
from tests.submissions.processes import Celery, celery_like_make_demo

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCORED_WITHIN_MS = 240_000
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def celery(settings, tmp_path: Path) -> Iterator[Celery]:
    with celery_like_make_demo(Path(settings.MEDIA_ROOT), tmp_path) as processes:
        yield processes


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """What the participant trained: a width-4 TransformerNet, saved as safetensors."""
    return save_safetensors(
        random_network("transformer_net", {"width": 4}, seed=7).state_dict(),
        tmp_path / "my-model.safetensors",
    )


# Markdown a participant would write, with a script that the sanitiser must drop.
THREAD_BODY = (
    "Is the **hidden** set fixed for the whole phase?\n\n"
    "- content photos\n- style images\n\n"
    "I resize with `Image.LANCZOS`.\n\n"
    "<script>window.forumScriptRan = true</script>"
)


def test_participant_journey(
    live_server,
    browser: Browser,
    page: Page,
    celery: Celery,
    organizer: User,
    challenge: Challenge,
    checkpoint: Path,
    tmp_path,
) -> None:
    ScoringProfile.objects.create(challenge=challenge, judge_steps=10, gallery_size=2)
    challenge_url = live_server.url + challenge.get_absolute_url()

    # Step 1: sign up.
    page.goto(live_server.url)
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Email").fill("newcomer@example.org")
    page.get_by_label("Password", exact=True).fill("a-long-enough-secret-7")
    page.get_by_label("Password confirmation").fill("a-long-enough-secret-7")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Welcome to Atelier, newcomer!")).to_be_visible()

    # Step 2: join the challenge, accepting its rules.
    page.goto(challenge_url)
    page.get_by_role("link", name="Join this challenge").click()
    page.get_by_label("I have read and accept the rules").check()
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_text("You are a participant")).to_be_visible()
    assert Participation.objects.get(user__username="newcomer").status == "approved"

    # Step 3: download the public data (and the command-line client).
    page.get_by_role("link", name="Data", exact=True).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the public data (zip)").click()
    archive_path = tmp_path / "data.zip"
    download_info.value.save_as(archive_path)
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
    assert sum(name.startswith("content/") for name in names) == 2
    with page.expect_download() as client_info:
        page.get_by_role("link", name="Download atelier.py").click()
    assert client_info.value.suggested_filename == "atelier.py"

    # Step 4: submit the checkpoint through the form.
    page.get_by_role("link", name="Submit", exact=True).click()
    expect(page.get_by_text("5 of 5 left in the last 24 hours")).to_be_visible()
    page.get_by_label("Architecture").select_option("transformer_net")
    page.get_by_label("Description").fill("my first model")
    page.get_by_label("Checkpoint").set_input_files(checkpoint)
    page.get_by_role("button", name="Upload and submit").click()
    expect(page).to_have_url(re.compile(r"/submissions/[0-9a-f-]{36}/$"))
    expect(page.get_by_text("Submission accepted; it is queued for scoring.")).to_be_visible()
    submission = Submission.objects.get(participant__username="newcomer")
    assert submission.description == "my first model"

    # Step 5: watch the progress bar until the submission is scored by the worker.
    expect(page.locator("#bar")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Scored", timeout=SCORED_WITHIN_MS)
    expect(page.get_by_role("heading", name="Scores")).to_be_visible()
    expect(page.locator("table.scores")).to_contain_text("composite")

    # Step 6: the gallery of content | style | output triptychs, every image loaded.
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    triptychs = page.locator(".triptychs li")
    expect(triptychs).to_have_count(2)
    expect(triptychs.first.locator("figcaption")).to_have_text(["content", "style", "output"])
    loaded = page.eval_on_selector_all(
        ".triptychs img", "images => images.map(image => image.complete && image.naturalWidth)"
    )
    assert len(loaded) == 6
    assert all(loaded), loaded

    # Step 7: the leaderboard row.
    page.get_by_role("link", name="Leaderboard").first.click()
    row = page.locator("table.leaderboard tbody tr", has_text="newcomer")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text("1")

    # Step 8: My submissions, a tab of the challenge page.
    page.get_by_role("link", name="My submissions").first.click()
    expect(page.get_by_role("link", name="Scored (1)")).to_be_visible()
    expect(page.locator("table.submissions")).to_contain_text("my first model")

    # Step 9: the Forum tab; start a thread written in markdown and see it rendered.
    page.get_by_role("navigation", name="Challenge sections").get_by_role(
        "link", name="Forum"
    ).click()
    expect(page.get_by_text("No thread yet.")).to_be_visible()
    page.get_by_role("link", name="New thread").click()
    page.get_by_label("Title").fill("Is the hidden set fixed?")
    page.get_by_label("Message").fill(THREAD_BODY)
    page.get_by_role("button", name="Start thread").click()
    expect(page.get_by_text("Thread started.")).to_be_visible()
    expect(page.get_by_role("heading", name="Is the hidden set fixed?")).to_be_visible()
    first_post = page.locator(".forum-post").first
    expect(first_post.locator("strong", has_text="hidden")).to_be_visible()
    expect(first_post.locator("li")).to_have_text(["content photos", "style images"])
    expect(first_post.locator("code")).to_have_text("Image.LANCZOS")
    expect(first_post).not_to_contain_text("forumScriptRan")
    assert page.evaluate("window.forumScriptRan") is None
    thread = Thread.objects.get(title="Is the hidden set fixed?")
    thread_url = live_server.url + thread.get_absolute_url()
    assert page.url == thread_url

    # Step 10: an organizer, in a browser of their own, pins and then locks the thread; the
    # list shows it first, with both marks, above a thread with newer activity.
    make_forum_thread(challenge, organizer, title="Office hours on Friday")
    organizer_context = browser.new_context()
    moderator = organizer_context.new_page()
    moderator.set_default_timeout(15_000)
    moderator.goto(f"{live_server.url}/accounts/login/?next={thread.get_absolute_url()}")
    moderator.get_by_label("Username").fill(organizer.username)
    moderator.get_by_label("Password").fill(PASSWORD)
    moderator.get_by_role("button", name="Log in").click()
    expect(moderator).to_have_url(thread_url)
    moderator.get_by_role("button", name="Pin", exact=True).click()
    expect(moderator.get_by_text("Thread pinned.")).to_be_visible()
    moderator.get_by_role("button", name="Lock", exact=True).click()
    expect(moderator.get_by_text("Thread locked.")).to_be_visible()
    expect(moderator.get_by_role("button", name="Unpin")).to_be_visible()
    expect(moderator.get_by_role("button", name="Unlock")).to_be_visible()
    moderator.get_by_role("link", name="All threads").click()
    threads = moderator.locator(".forum-threads li")
    expect(threads.locator(".forum-thread-title")).to_have_text(
        ["Is the hidden set fixed?", "Office hours on Friday"]
    )
    expect(threads.first).to_have_class(re.compile(r"\bpinned\b"))
    expect(threads.first.locator(".badge")).to_have_text(["Pinned", "Locked"])
    expect(threads.nth(1).locator(".badge")).to_have_count(0)
    organizer_context.close()

    # Step 11: back as the participant: the thread says it is locked and offers no reply
    # form, and a reply posted anyway (a tab left open from before) is refused.
    page.reload()
    expect(page.locator(".forum-thread-header .badge")).to_have_text(["Pinned", "Locked"])
    reply = page.locator("#reply")
    expect(reply).to_contain_text("This thread is locked: only the organizers can write in it.")
    expect(reply.locator("form")).to_have_count(0)
    expect(page.get_by_role("button", name="Post reply")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(
        f"{thread_url}reply/",
        form={"body": "Sneaking in after the lock.", "csrfmiddlewaretoken": csrf},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "[forum_locked]" in refused.text()
    assert list(Post.objects.filter(thread=thread).values_list("author__username", flat=True)) == [
        "newcomer"
    ]


def test_participant_pages_fit_a_phone_screen(
    live_server, browser: Browser, challenge: Challenge
) -> None:
    user = UserFactory(username="phone")
    participation_join(user=user, challenge=challenge, accept_rules=True)
    submission = scored(
        challenge.phases.get(), user, public=scores(), description="a long description " * 4
    )
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("phone")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    slug = challenge.slug
    for path in (
        f"/challenges/{slug}/submit/",
        f"/challenges/{slug}/submissions/",
        f"/challenges/{slug}/data/",
        submission.get_absolute_url(),
    ):
        page.goto(live_server.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    context.close()
