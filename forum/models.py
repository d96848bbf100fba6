"""The forum of a challenge: threads, their posts, and who may no longer write in it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

TITLE_MAX_CHARS = 200


class Thread(models.Model):
    challenge = models.ForeignKey(
        "competitions.Challenge", on_delete=models.CASCADE, related_name="forum_threads"
    )
    title = models.CharField(max_length=TITLE_MAX_CHARS)
    # A deleted account leaves its threads and posts in place, shown without a name.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="forum_threads",
    )
    is_announcement = models.BooleanField(
        default=False, help_text="Started by an organizer as an announcement."
    )
    is_pinned = models.BooleanField(default=False, help_text="Listed before all other threads.")
    is_locked = models.BooleanField(
        default=False, help_text="Only organizers may reply or edit posts."
    )
    is_hidden = models.BooleanField(
        default=False, help_text="Seen by the challenge's organizers only."
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set in the same transaction as each new post: the list orders by it.
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_pinned", "-last_activity_at", "-pk"]
        indexes = [
            models.Index(
                fields=["challenge", "-is_pinned", "-last_activity_at"], name="thread_list"
            )
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("forum_thread", kwargs={"slug": self.challenge.slug, "pk": self.pk})


class Post(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="forum_posts",
    )
    body_markdown = models.TextField()
    # Rendered and sanitised once, when the post is written or edited; shown as is.
    body_html = models.TextField()
    by_organizer = models.BooleanField(
        default=False, help_text="The author organized the challenge when writing it."
    )
    is_hidden = models.BooleanField(
        default=False, help_text="Hidden by an organizer; its text is kept for organizers."
    )
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["thread", "created_at"], name="post_thread_order"),
            # The rate limit counts a user's recent posts.
            models.Index(fields=["author", "created_at"], name="post_author_recent"),
        ]

    def __str__(self) -> str:
        return f"Post {self.pk} in {self.thread}"

    def get_absolute_url(self) -> str:
        return f"{self.thread.get_absolute_url()}#post-{self.pk}"


class ForumBan(models.Model):
    """A user who may no longer write in one challenge's forum (they may still read it)."""

    challenge = models.ForeignKey(
        "competitions.Challenge", on_delete=models.CASCADE, related_name="forum_bans"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="forum_bans"
    )
    reason = models.CharField(max_length=500)
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "user"], name="forum_ban_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} banned from the forum of {self.challenge.slug}"
