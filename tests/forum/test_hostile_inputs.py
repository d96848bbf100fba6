"""Hostile query parameters on the forum pages: a page that is no number is page 1, a quote
that is no post number is ignored, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge
from forum import selectors
from tests.factories import make_forum_thread
from tests.forum.conftest import logged_in

pytestmark = pytest.mark.django_db
NOT_NUMBERS = ["²", "١٢", "9" * 5000, "-1", "0", " 2", "2.0", ""]


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "THREADS_PER_PAGE", 2)
    monkeypatch.setattr(selectors, "POSTS_PER_PAGE", 2)


def page_number(url: str, query: dict[str, str]) -> int:
    response = Client().get(url, query)
    assert response.status_code == 200
    return response.context["page"].number


@pytest.mark.usefixtures("small_pages")
def test_the_thread_list_shows_page_one_for_a_page_that_is_no_number(
    challenge: Challenge, member
) -> None:
    for index in range(5):
        make_forum_thread(challenge, member, title=f"t{index}")
    url = reverse("forum_threads", args=[challenge.slug])
    for page in NOT_NUMBERS:
        assert page_number(url, {"page": page}) == 1, page
    assert page_number(url, {"page": "2"}) == 2
    assert page_number(url, {"page": "999999999"}) == 3


@pytest.mark.usefixtures("small_pages")
def test_a_thread_shows_page_one_for_a_page_that_is_no_number(challenge: Challenge, member) -> None:
    thread = make_forum_thread(challenge, member)
    for index in range(4):
        thread.posts.create(author=member, body_markdown=f"r{index}", body_html=f"r{index}")
    url = thread.get_absolute_url()
    for page in NOT_NUMBERS:
        assert page_number(url, {"page": page}) == 1, page
    assert page_number(url, {"page": "3"}) == 3


@pytest.mark.parametrize("quote", [*NOT_NUMBERS, "999999999"])
def test_a_quote_that_is_no_post_of_the_thread_is_ignored(
    challenge: Challenge, member, quote: str
) -> None:
    thread = make_forum_thread(challenge, member)
    response = logged_in(member).get(thread.get_absolute_url(), {"quote": quote})
    assert response.status_code == 200
    assert response.context["quoted"] is None


def test_a_valid_quote_still_quotes(challenge: Challenge, member) -> None:
    thread = make_forum_thread(challenge, member)
    post = thread.posts.get()
    response = logged_in(member).get(thread.get_absolute_url(), {"quote": str(post.pk)})
    assert response.context["quoted"] == post
