"""The admin site: Django's, with the plumbing grouped under one "System" section.

allauth's e-mail addresses, social applications and MFA authenticators, Django's groups and the
task cluster's tables are tools for administrators, not for the people working customers,
refunds and webhooks: they are listed together under "System", and only for administrators.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.access.roles import ADMIN

SYSTEM_APPS = frozenset({"account", "socialaccount", "mfa", "django_q", "auth", "sites"})
SYSTEM_LABEL = "system"


def is_administrator(user: Any) -> bool:
    return bool(
        getattr(user, "is_superuser", False)
        or (getattr(user, "is_authenticated", False) and user.groups.filter(name=ADMIN).exists())
    )


class SwitchboardAdminSite(admin.AdminSite):
    site_header = "Switchboard"
    site_title = "Switchboard"
    index_title = "Back-office"
    # There is no public site to "View": the admin is the whole application.
    site_url = None

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        kept: list[dict[str, Any]] = []
        system: list[dict[str, Any]] = []
        for app in apps:
            if app["app_label"] in SYSTEM_APPS:
                system += [
                    {**model, "name": f"{model['name']} ({app['name']})"} for model in app["models"]
                ]
            else:
                kept.append(app)
        if system and is_administrator(request.user):
            kept.append(
                {
                    "name": "System",
                    "app_label": SYSTEM_LABEL,
                    "app_url": "",
                    "has_module_perms": True,
                    "models": sorted(system, key=lambda model: str(model["name"]).lower()),
                }
            )
        return kept
