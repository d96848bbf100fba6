"""Roles: organizers are staff users in the "organizers" group.

The group carries the model permissions the admin needs; which challenges an organizer may
see and change is decided per object (see ``competitions.selectors``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

ORGANIZERS_GROUP = "organizers"

# (app_label, model, actions) an organizer needs in the admin.
ORGANIZER_PERMISSIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("competitions", "challenge", ("view", "add", "change")),
    ("competitions", "phase", ("view", "add", "change", "delete")),
    ("competitions", "challengeimage", ("view", "add", "delete")),
    ("competitions", "participation", ("view", "change")),
    ("submissions", "submission", ("view", "change")),
    ("scoring", "scoringprofile", ("view", "change")),
    # Organizers disqualify submissions of their challenges.
    ("leaderboard", "disqualification", ("view", "add", "change", "delete")),
    # Organizers moderate their challenges' forums: pin, lock, hide, ban.
    ("forum", "thread", ("view", "change")),
    ("forum", "post", ("view", "change")),
    ("forum", "forumban", ("view", "add", "change", "delete")),
)


def organizers_group_ensure(**kwargs: Any) -> Group:
    """Create the organizers group and give it the permissions that exist so far."""
    group, _ = Group.objects.get_or_create(name=ORGANIZERS_GROUP)
    wanted = [
        (app_label, f"{action}_{model}")
        for app_label, model, actions in ORGANIZER_PERMISSIONS
        for action in actions
    ]
    for app_label, codename in wanted:
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if permission is not None:
            group.permissions.add(permission)
    return group
