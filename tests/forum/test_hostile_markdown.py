"""Hostile posts: what is stored is safe HTML, the page still renders, limits have codes.

The maximum post length is forum.errors.POST_MAX_CHARS (10,000 characters): a longer post,
1 MB included, is refused with ``post_too_long`` and nothing is stored.
"""

from __future__ import annotations

import random

import markdown
import pytest
from django.urls import reverse

from config.errors import ApplicationError
from config.markdown import (
    TOO_DEEP,
    MarkdownTooComplex,
    _LinearLinksExtension,
    markdown_render_safe,
    markdown_to_safe_html,
)
from forum import errors, services
from forum.models import Post
from tests.forum.conftest import logged_in, viewer

pytestmark = pytest.mark.django_db

HOSTILE = {
    "script": "<script>alert(1)</script>Hello",
    "script_upper": "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "style": "<style>body{display:none}</style>text",
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "event_handler": '<img src="x.png" onerror="alert(1)"><b onmouseover="alert(2)">b</b>',
    "svg_onload": "<svg onload=alert(1)>",
    "javascript_link": "[click](javascript:alert(1))",
    "javascript_mixed_case": "[click](JaVaScRiPt:alert(1))",
    "javascript_entity": "[click](java&#x09;script:alert(1))",
    "javascript_html_link": '<a href="javascript:alert(1)">x</a>',
    "data_image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "data_link": '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "unclosed": "<div><b>unclosed <i>tags <a href='https://example.org'>link",
    "form": '<form action="https://evil.example"><input name="password"><button>Go</button></form>',
    "object": '<object data="x.swf"></object><embed src="x.swf">',
    "meta_refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "style_attribute": '<p style="position:fixed;top:0">overlay</p>',
    "base": '<base href="https://evil.example/">',
}
FORBIDDEN = (
    "<script",
    "<style",
    "<iframe",
    "<svg",
    "<form",
    "<input",
    "<object",
    "<embed",
    "<meta",
    "<base",
    "onerror",
    "onmouseover",
    "onload",
    "javascript:",
    "data:",
    "style=",
)


def assert_safe(html: str) -> None:
    lowered = html.lower()
    for needle in FORBIDDEN:
        assert needle not in lowered, f"{needle!r} survived in {html!r}"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_post_is_stored_safe_and_its_page_renders(name, challenge, member) -> None:
    body = f"Visible text.\n\n{HOSTILE[name]}"
    thread = services.thread_create(
        viewer=viewer(challenge, member), title=f"Hostile {name}", body=body
    )
    post = thread.posts.get()
    assert post.body_markdown == body
    assert "Visible text." in post.body_html
    assert_safe(post.body_html)
    response = logged_in(member).get(thread.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Hostile {name}" in page
    assert_safe(page[page.index('<ol class="forum-posts">') : page.index('id="reply"')])


@pytest.mark.parametrize("body", ["<script>alert(1)</script>", HOSTILE["iframe"]])
def test_a_post_of_nothing_but_removed_html_is_refused(body, challenge, member) -> None:
    with pytest.raises(ApplicationError) as caught:
        services.thread_create(viewer=viewer(challenge, member), title="t", body=body)
    assert caught.value.code == "post_nothing_to_show"
    assert not Post.objects.exists()


def test_links_get_nofollow_noopener(challenge, member) -> None:
    body = '[site](https://example.org) <a href="https://example.org" rel="opener">raw</a>'
    thread = services.thread_create(viewer=viewer(challenge, member), title="t", body=body)
    html = thread.posts.get().body_html
    assert html.count('rel="nofollow noopener"') == 2
    assert 'rel="opener"' not in html


def test_unclosed_tags_are_closed_in_the_stored_html(challenge, member) -> None:
    thread = services.thread_create(
        viewer=viewer(challenge, member), title="t", body="<b>bold <i>both"
    )
    assert thread.posts.get().body_html == "<p><b>bold <i>both</i></b></p>"


def test_a_post_at_the_limit_is_stored_and_renders(challenge, member) -> None:
    line = "Some *emphasis* and a [link](https://example.org/page) in a line.\n"
    body = (line * (errors.POST_MAX_CHARS // len(line) + 1))[: errors.POST_MAX_CHARS - 1] + "!"
    assert len(body) == errors.POST_MAX_CHARS
    thread = services.thread_create(viewer=viewer(challenge, member), title="Long", body=body)
    post = thread.posts.get()
    assert len(post.body_markdown) == errors.POST_MAX_CHARS
    response = logged_in(member).get(thread.get_absolute_url())
    assert response.status_code == 200
    assert response.content.decode().count('rel="nofollow noopener"') >= 100


@pytest.mark.parametrize("size", [errors.POST_MAX_CHARS + 1, 1024 * 1024])
def test_longer_posts_are_refused_with_post_too_long(size, challenge, member) -> None:
    body = ("<script>x</script>" * (size // 18 + 1))[:size]
    with pytest.raises(ApplicationError) as caught:
        services.thread_create(viewer=viewer(challenge, member), title="Huge", body=body)
    assert caught.value.code == "post_too_long"
    assert caught.value.message == (
        f"A post can be at most 10,000 characters long; this one has {size:,}. "
        "Shorten it, or split it into several posts."
    )
    assert not Post.objects.exists()


def test_a_1mb_post_through_the_page_gets_the_error_and_the_form_back(challenge, member):
    url = reverse("forum_thread_new", args=[challenge.slug])
    response = logged_in(member).post(url, {"title": "Huge", "body": "a" * 1024 * 1024})
    assert response.status_code == 400
    assert "[post_too_long]" in response.content.decode()
    assert not Post.objects.exists()


def test_null_characters_are_refused(challenge, member) -> None:
    with pytest.raises(ApplicationError) as caught:
        services.thread_create(viewer=viewer(challenge, member), title="t", body="a\x00b")
    assert caught.value.code == "forum_null_character"


def test_text_nested_too_deeply_is_refused_not_a_server_error(challenge, member) -> None:
    body = "a\n: b\n" * 1600
    with pytest.raises(MarkdownTooComplex):
        markdown_render_safe(body)
    with pytest.raises(ApplicationError) as caught:
        services.thread_create(viewer=viewer(challenge, member), title="t", body=body)
    assert caught.value.code == "post_too_complex"
    # The renderer's own sentence says what to change.
    assert caught.value.message == f"This post cannot be displayed as written. {TOO_DEEP}"
    # Descriptions (rendered by the template filter) fall back to escaped text instead.
    assert markdown_to_safe_html("<b>x</b>\n: b\n" * 1600).startswith("<pre>&lt;b&gt;")


@pytest.mark.parametrize(
    "body",
    [
        "[" * errors.POST_MAX_CHARS,
        "![" * (errors.POST_MAX_CHARS // 2),
        "[a](" * (errors.POST_MAX_CHARS // 4),
        "[a](" * 2000 + ")",
        '[a]("' * 2000,
        "(" * errors.POST_MAX_CHARS,
    ],
    ids=["brackets", "images", "open_links", "open_links_closed_at_end", "titles", "parens"],
)
def test_unmatched_brackets_at_the_limit_are_stored(body, challenge, member) -> None:
    """Python-Markdown scans to the end of the text from every "[": minutes of CPU for such a
    post before config.markdown answered those scans from one table per text."""
    thread = services.thread_create(viewer=viewer(challenge, member), title="t", body=body)
    assert thread.posts.get().body_html.startswith("<p>")


def test_linear_link_scans_give_markdowns_own_results() -> None:
    """The link scans of config.markdown agree with Python-Markdown's on random texts."""
    rng = random.Random(20260101)
    pieces = [
        *"[[]]((()))!ab \n*`<>:^\"'_",
        "http://x",
        "[a]: http://y\n",
        "\n\n",
        "[^1]",
        "![i](j)",
        "[a][b]",
        "[b]: /z\n",
        "<b>",
        "> ",
        "- ",
        "    ",
        "](",
        ' "t")',
        "\\(",
        "\\[",
        "<http://u>",
    ]
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(5, 80)))
        extensions = ["extra", "sane_lists"]
        expected = markdown.markdown(text, extensions=extensions)
        linear = markdown.markdown(text, extensions=[*extensions, _LinearLinksExtension()])
        assert linear == expected, text
