"""The Forum tab of a challenge: thread list, thread page, new thread, reply, edit, and the
organizers' moderation buttons. Thin: forum.selectors decides who sees and may do what,
forum.services writes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from competitions.tabs import TABS
from config.errors import ApplicationError
from config.parsing import query_int
from forum import errors, selectors, services
from forum.forms import PostEditForm, ReplyForm, ThreadForm
from forum.models import Post, Thread
from forum.selectors import ForumViewer

MODERATED = {
    "pin": "Thread pinned.",
    "unpin": "Thread unpinned.",
    "lock": "Thread locked.",
    "unlock": "Thread unlocked.",
    "hide": "Thread hidden: only the organizers see it now.",
    "unhide": "Thread shown again.",
}


def _context(viewer: ForumViewer, **extra: Any) -> dict[str, Any]:
    """What the challenge page around the Forum tab needs, and the viewer's standing."""
    refused = selectors.write_refusal(viewer)
    return {
        "challenge": viewer.challenge,
        "tab": "forum",
        "tabs": TABS,
        "participation": viewer.participation,
        "is_organizer": viewer.is_organizer,
        "write_refusal": refused,
        **extra,
    }


def _post_url(viewer: ForumViewer, post: Post) -> str:
    page = selectors.post_page_number(viewer=viewer, post=post)
    url = reverse("forum_thread", args=[viewer.challenge.slug, post.thread_id])
    query = f"?{urlencode({'page': page})}" if page > 1 else ""
    return f"{url}{query}#post-{post.pk}"


def _error(form: Any, error: ApplicationError) -> int:
    """Show a refusal on the form; its status is the API's for the same refusal."""
    form.add_error(None, f"{error.message} [{error.code}]")
    return errors.http_status(error.code)


def thread_list(request: HttpRequest, slug: str) -> HttpResponse:
    viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
    page = selectors.page_get(
        selectors.threads_visible(viewer),
        number=query_int(request.GET.get("page")) or 1,
        size=selectors.THREADS_PER_PAGE,
    )
    return render(request, "forum/thread_list.html", _context(viewer, page=page))


@login_required
@require_http_methods(["GET", "POST"])
def thread_new(request: HttpRequest, slug: str) -> HttpResponse:
    viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
    form = ThreadForm(
        request.POST if request.method == "POST" else None, organizer=viewer.is_organizer
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            thread = services.thread_create(
                viewer=viewer,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                announcement=form.cleaned_data.get("announcement", False),
            )
        except ApplicationError as error:
            status = _error(form, error)
        else:
            messages.success(request, "Thread started.")
            return redirect(thread)
    elif request.method == "POST":
        status = 400
    return render(request, "forum/thread_new.html", _context(viewer, form=form), status=status)


def _thread_page(
    request: HttpRequest,
    viewer: ForumViewer,
    thread: Thread,
    form: ReplyForm,
    *,
    quoted: Post | None = None,
    status: int = 200,
) -> HttpResponse:
    page = selectors.page_get(
        selectors.posts_visible(viewer=viewer, thread=thread),
        number=query_int(request.GET.get("page")) or 1,
        size=selectors.POSTS_PER_PAGE,
    )
    context = _context(
        viewer,
        thread=thread,
        page=page,
        form=form,
        quoted=quoted,
        reply_refusal=selectors.write_refusal(viewer, thread=thread),
    )
    return render(request, "forum/thread.html", context, status=status)


def thread_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
    thread = selectors.thread_get_visible(viewer=viewer, pk=pk)
    quoted = None
    # Anything but a post number (see query_int) is ignored: the page shows no quote.
    quote = query_int(request.GET.get("quote"))
    if quote is not None:
        try:
            quoted = selectors.quote_get(viewer=viewer, thread=thread, pk=quote)
        except ApplicationError as error:
            messages.error(request, error.message)
    form = ReplyForm(initial={"quote": quoted.pk if quoted else None})
    return _thread_page(request, viewer, thread, form, quoted=quoted)


@login_required
@require_POST
def thread_reply(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
    thread = selectors.thread_get_visible(viewer=viewer, pk=pk)
    form = ReplyForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            post = services.post_create(
                viewer=viewer,
                thread=thread,
                body=form.cleaned_data["body"],
                quote=form.cleaned_data["quote"] or None,
            )
        except ApplicationError as error:
            status = _error(form, error)
        else:
            messages.success(request, "Reply posted.")
            return redirect(_post_url(viewer, post))
    return _thread_page(request, viewer, thread, form, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def post_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
    post = selectors.post_get_visible(viewer=viewer, pk=pk)
    refused = selectors.edit_refusal(viewer, post)
    if request.method == "POST":
        form = PostEditForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.post_edit(viewer=viewer, post=post, body=form.cleaned_data["body"])
            except ApplicationError as error:
                status = _error(form, error)
            else:
                messages.success(request, "Post updated.")
                return redirect(_post_url(viewer, post))
    else:
        form = PostEditForm(initial={"body": post.body_markdown})
        status = 200 if refused is None else 403
    context = _context(viewer, post=post, form=form, edit_refusal=refused)
    return render(request, "forum/post_edit.html", context, status=status)


@login_required
@require_POST
def thread_moderate(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
    thread = selectors.thread_get_visible(viewer=viewer, pk=pk)
    if not viewer.is_organizer:
        return HttpResponseForbidden(errors.NOT_ORGANIZER[1])
    action = request.POST.get("action", "")
    try:
        services.thread_moderate_action(thread=thread, by=request.user, action=action)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, MODERATED[action])
    return redirect(thread)


@login_required
@require_POST
def post_moderate(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
    post = selectors.post_get_visible(viewer=viewer, pk=pk)
    if not viewer.is_organizer:
        return HttpResponseForbidden(errors.NOT_ORGANIZER[1])
    action = request.POST.get("action", "")
    if action in ("hide", "unhide"):
        services.post_hide(post=post, by=request.user, hidden=action == "hide")
        messages.success(request, "Post hidden." if action == "hide" else "Post shown again.")
    else:
        messages.error(request, errors.UNKNOWN_ACTION[1])
    return redirect(_post_url(viewer, post))
