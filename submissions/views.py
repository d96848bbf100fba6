"""Submission pages: submit, follow progress, see scores and gallery, cancel, list."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from competitions.selectors import (
    challenge_get_visible,
    participation_for,
    phases_open,
    user_organizes,
)
from competitions.tabs import TABS
from config.errors import ApplicationError
from config.parsing import query_int
from config.redirects import redirect_back
from config.uploads import upload_too_large
from scoring.engine.metrics import METRIC_DIRECTIONS, METRIC_HELP
from scoring.models import Leaderboard, Result
from submissions import selectors
from submissions.forms import SubmissionForm
from submissions.lifecycle import submission_cancel
from submissions.models import Submission
from submissions.services import submission_create

SUBMISSIONS_PER_PAGE = 25
ACCEPTED = "Submission accepted; it is queued for scoring."


@login_required
@require_http_methods(["GET", "POST"])
def challenge_submit(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = challenge_get_visible(slug=slug, user=request.user)
    phases = list(phases_open(challenge))
    form = SubmissionForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        phases=[phase.name for phase in phases],
    )
    if getattr(request, "upload_too_large", None):
        form.add_error("checkpoint", upload_too_large(request.upload_too_large).message)
    elif request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["checkpoint"]
        try:
            submission = submission_create(
                user=request.user,
                challenge=challenge,
                checkpoint_path=Path(upload.temporary_file_path()),
                checkpoint_name=upload.name,
                architecture=form.cleaned_data["architecture"],
                phase_name=form.cleaned_data["phase"] or None,
                config=form.cleaned_data["config"],
                io_range=form.cleaned_data["io_range"] or None,
                description=form.cleaned_data["description"],
                is_baseline=bool(request.POST.get("is_baseline"))
                and user_organizes(request.user, challenge),
            )
        except ApplicationError as error:
            form.add_error(None, f"{error.message} [{error.code}]")
        else:
            messages.success(request, ACCEPTED)
            if _is_xhr(request):
                # static/js/submission.js uploads with progress and then goes there itself.
                return JsonResponse({"location": submission.get_absolute_url()}, status=201)
            return redirect(submission)
    usage = {
        phase.name: selectors.quota_usage(participant=request.user, phase=phase) for phase in phases
    }
    context = {
        "challenge": challenge,
        "form": form,
        "phases": phases,
        "usage": usage,
        "is_organizer": user_organizes(request.user, challenge),
        "architectures": selectors.architecture_notes(challenge),
    }
    return render(request, "submissions/submit.html", context)


def _is_xhr(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


@login_required
def submission_detail(request: HttpRequest, pk: str) -> HttpResponse:
    submission = selectors.submission_get_visible(pk=pk, user=request.user)
    scores = selectors.submission_scores(submission=submission, user=request.user)
    rows = [
        {
            "name": name,
            "direction": METRIC_DIRECTIONS[name].value,
            "help": METRIC_HELP[name],
            "values": {board: values.get(name) for board, values in scores.items()},
        }
        for name in METRIC_DIRECTIONS
    ]
    context = {
        "submission": submission,
        "stage": selectors.submission_stage(submission),
        "challenge": submission.phase.challenge,
        "boards": list(scores),
        "rows": rows,
        "gallery": submission.gallery.select_related("content_image", "style_image"),
        "is_organizer": user_organizes(request.user, submission.phase.challenge),
        "calibrated": submission.results.filter(calibrated=True).exists(),
    }
    return render(request, "submissions/detail.html", context)


@login_required
def submission_status(request: HttpRequest, pk: str) -> JsonResponse:
    submission = selectors.submission_get_visible(pk=pk, user=request.user)
    return JsonResponse(selectors.submission_status(submission=submission, user=request.user))


@login_required
@require_POST
def submission_cancel_view(request: HttpRequest, pk: str) -> HttpResponse:
    submission = selectors.submission_get_visible(pk=pk, user=request.user)
    try:
        submission_cancel(submission=submission, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Submission cancelled.")
    # Back to the list the participant cancelled from, if that is where they were.
    return redirect_back(request, submission)


@login_required
def submission_gallery_image(request: HttpRequest, pk: str, position: int) -> HttpResponse:
    submission = selectors.submission_get_visible(pk=pk, user=request.user)
    image = submission.gallery.filter(position=position).first()
    if image is None:
        return HttpResponse(status=404)
    response = FileResponse(default_storage.open(image.file.name, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
def my_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    """The challenge page's "My submissions" tab: filter by status, cancel, select for final."""
    challenge = challenge_get_visible(slug=slug, user=request.user)
    mine = selectors.submissions_for_user(user=request.user).filter(phase__challenge=challenge)
    counts = dict(mine.values_list("status").annotate(count=Count("pk")).order_by())
    status = request.GET.get("status")
    if status in Submission.Status.values:
        mine = mine.filter(status=status)
    else:
        status = None
    # Without the per-image values: the list shows none, and they are the bulk of a row.
    public_results = Prefetch(
        "results",
        queryset=Result.objects.filter(leaderboard=Leaderboard.PUBLIC).defer("per_image"),
        to_attr="public",
    )
    pages = Paginator(
        mine.order_by("-created_at").prefetch_related(public_results), SUBMISSIONS_PER_PAGE
    )
    page = pages.get_page(query_int(request.GET.get("page")) or 1)
    selections = selectors.final_selections(submissions=page.object_list, user=request.user)
    context = {
        "challenge": challenge,
        "tab": "submissions",
        "tabs": TABS,
        "participation": participation_for(user=request.user, challenge=challenge),
        "is_organizer": user_organizes(request.user, challenge),
        "page": page,
        "submissions": [
            {
                "submission": item,
                "stage": selectors.submission_stage(item),
                "composite": item.public[0].composite if item.public else None,
                "selection": selections[item.pk],
            }
            for item in page
        ],
        "statuses": [
            (value, label, counts.get(value, 0)) for value, label in Submission.Status.choices
        ],
        "total": sum(counts.values()),
        "status": status,
    }
    return render(request, "submissions/list.html", context)
