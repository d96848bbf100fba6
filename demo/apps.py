from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo site: accounts, a procedural challenge and its scored entries (`seed_demo`).

    At the top of the dependency order (ARCHITECTURE.md): it builds on every other app and no
    app imports it.
    """

    name = "demo"
    verbose_name = "Demo"
