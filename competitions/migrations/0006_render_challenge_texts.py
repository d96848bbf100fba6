"""Render the markdown of existing challenges into the HTML fields added by 0005.

Pages used to render it on every request; from now on they show what is stored. Text the
renderer cannot handle (nested too deeply, a paragraph too long) is stored as plain text,
as the page showed it before.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from config.markdown import markdown_to_safe_html


def render_texts(apps: Any, schema_editor: Any) -> None:
    challenge_model = apps.get_model("competitions", "Challenge")
    for challenge in challenge_model.objects.only("pk", "description", "rules").iterator():
        challenge_model.objects.filter(pk=challenge.pk).update(
            description_html=markdown_to_safe_html(challenge.description),
            rules_html=markdown_to_safe_html(challenge.rules),
        )


class Migration(migrations.Migration):
    dependencies = [("competitions", "0005_bounds_and_rendered_texts")]

    # Going back drops the HTML fields in 0005; nothing to undo here.
    operations = [migrations.RunPython(render_texts, migrations.RunPython.noop)]
