"""The forum in the REST API: pages of threads and posts, starting threads and replying.

Exactly the website's rules: forum.selectors decides who reads what (anyone who may see the
challenge; hidden threads and posts for its organizers only) and who may write, and
forum.services writes, with the same error codes as the pages show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config.api import paginated_response
from config.errors import ApplicationError
from forum import errors, selectors, services
from forum.models import TITLE_MAX_CHARS, Post, Thread


def _refusal_response(write: Callable[[], Any]) -> tuple[Any, Response | None]:
    """Run a service; a refusal becomes the API's error body with a fitting status."""
    try:
        return write(), None
    except ApplicationError as error:
        body = {"error_code": error.code, "detail": error.message}
        return None, Response(body, status=errors.http_status(error.code))


@extend_schema_serializer(component_name="ForumThread")
class ThreadSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.get_username", allow_null=True, default=None)
    post_count = serializers.IntegerField(help_text="Posts the caller can see.")
    url = serializers.CharField(source="get_absolute_url", help_text="The thread's web page.")

    class Meta:
        model = Thread
        fields = [
            "id",
            "title",
            "author",
            "is_announcement",
            "is_pinned",
            "is_locked",
            "is_hidden",
            "created_at",
            "last_activity_at",
            "post_count",
            "url",
        ]


@extend_schema_serializer(component_name="ForumPost")
class PostSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.get_username", allow_null=True, default=None)
    body_html = serializers.CharField(help_text="Rendered from body_markdown and sanitised.")

    class Meta:
        model = Post
        fields = [
            "id",
            "thread",
            "author",
            "by_organizer",
            "body_markdown",
            "body_html",
            "is_hidden",
            "created_at",
            "edited_at",
        ]


class ThreadListApi(APIView):
    """The challenge's forum threads, pinned first and then by last activity; and starting
    a thread (approved participants and organizers; the first post is ``body``)."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema_serializer(component_name="ForumThreadInput")
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(
            allow_blank=True, help_text=f"At most {TITLE_MAX_CHARS} characters."
        )
        body = serializers.CharField(
            allow_blank=True,
            trim_whitespace=False,
            help_text=f"Markdown, at most {errors.POST_MAX_CHARS:,} characters.",
        )
        announcement = serializers.BooleanField(
            default=False, help_text="Organizers only: mark the thread as an announcement."
        )

    @extend_schema(operation_id="forum_threads_list", responses=ThreadSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
        return paginated_response(
            queryset=selectors.threads_visible(viewer),
            serializer_class=ThreadSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        operation_id="forum_thread_create",
        request=InputSerializer,
        responses={201: ThreadSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        thread, refused = _refusal_response(
            lambda: services.thread_create(
                viewer=viewer,
                title=values["title"],
                body=values["body"],
                announcement=values["announcement"],
            )
        )
        if refused is not None:
            return refused
        thread = selectors.thread_get_visible(viewer=viewer, pk=thread.pk)
        return Response(ThreadSerializer(thread).data, status=status.HTTP_201_CREATED)


class ThreadDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(operation_id="forum_thread_retrieve", responses=ThreadSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
        thread = selectors.thread_get_visible(viewer=viewer, pk=pk)
        return Response(ThreadSerializer(thread).data)


class PostListApi(APIView):
    """A thread's posts, oldest first; and replying to it (approved participants and
    organizers; only organizers in a locked thread). ``quote`` puts the start of one of the
    thread's posts before the reply, as a block quote."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema_serializer(component_name="ForumPostInput")
    class InputSerializer(serializers.Serializer):
        body = serializers.CharField(
            allow_blank=True,
            trim_whitespace=False,
            help_text=f"Markdown, at most {errors.POST_MAX_CHARS:,} characters.",
        )
        quote = serializers.IntegerField(
            required=False, help_text="The id of a post of this thread to quote."
        )

    @extend_schema(operation_id="forum_posts_list", responses=PostSerializer(many=True))
    def get(self, request: Request, slug: str, pk: int) -> Response:
        viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
        thread = selectors.thread_get_visible(viewer=viewer, pk=pk)
        return paginated_response(
            queryset=selectors.posts_visible(viewer=viewer, thread=thread),
            serializer_class=PostSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        operation_id="forum_post_create",
        request=InputSerializer,
        responses={201: PostSerializer},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        viewer = selectors.forum_viewer_get(slug=slug, user=request.user)
        thread = selectors.thread_get_visible(viewer=viewer, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def write() -> Post:
            return services.post_create(
                viewer=viewer, thread=thread, body=values["body"], quote=values.get("quote")
            )

        post, refused = _refusal_response(write)
        if refused is not None:
            return refused
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED)
