"""Issue 11 item 5: what every admin page carries. No "View site" link to a site that does not
exist, a styled 403 page with a way back, help texts with placeholders escaped."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from accounts.access.audit import audit_record
from accounts.access.roles import sync_roles
from accounts.models import User
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def test_no_view_site_link(admin_client: Client):
    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "View site" not in page


def test_a_role_refused_a_page_gets_a_styled_403_with_a_way_back(client: Client):
    support = make_staff("support-ana", role="support")
    client.force_login(support)

    answer = client.get(reverse("admin:accounts_apikey_changelist"))

    assert answer.status_code == 403
    page = answer.content.decode()
    assert "You may not open this page" in page
    assert 'href="/admin/"' in page
    assert "Back to the back-office home" in page
    assert "Switchboard" in page  # the admin's header, not a bare "403 Forbidden"


def test_help_text_placeholders_are_escaped(admin_client: Client, admin_user: User):
    """Help texts naming placeholders (``api-key:<prefix>``) render as text, not as tags."""
    with_placeholders = [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if "<" in str(getattr(field, "help_text", ""))
    ]
    assert with_placeholders, "the test walks real help texts"

    entry = audit_record(action="login", actor=admin_user)
    page = admin_client.get(reverse("admin:accounts_auditlogentry_change", args=[entry.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "'api-key:&lt;prefix&gt;'" in html or "&#x27;api-key:&lt;prefix&gt;&#x27;" in html
    assert "<prefix>" not in html


def test_plumbing_is_one_system_section_only_administrators_see(client: Client):
    sync_roles()
    admin = make_staff("admin-ana", role="admin", is_superuser=True)
    client.force_login(admin)
    apps_shown = client.get(reverse("admin:index")).context["app_list"]
    names = [app["name"] for app in apps_shown]
    assert "System" in names
    system = next(app for app in apps_shown if app["name"] == "System")
    models = {str(model["object_name"]) for model in system["models"]}
    assert {"EmailAddress", "Group", "Schedule"} <= models
    assert not {"account", "socialaccount", "mfa", "django_q", "auth"} & {
        app["app_label"] for app in apps_shown
    }, "each plumbing app appears once, inside System"

    ops = make_staff("ops-otto", role="ops")
    client.force_login(ops)
    ops_names = [app["name"] for app in client.get(reverse("admin:index")).context["app_list"]]
    assert "System" not in ops_names
    assert "Integrations" in ops_names
