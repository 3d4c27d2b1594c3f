"""Every admin changelist, when empty, says what would appear there and why it is empty; a search
or filter that matches nothing says so and links to the unfiltered list (issue 11 item 6)."""

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.urls import reverse
from django.utils.html import escape

from config.admin_empty import DEFAULT_MESSAGE, EMPTY_MESSAGES, empty_message

# Rows an empty database still has: the superuser looking, and what migrate itself writes.
NOT_EMPTY_AFTER_MIGRATE = {
    "accounts.user": "the superuser viewing the admin",
    "accounts.auditlogentry": "the superuser's own visits to the admin are audited",
    "django_q.schedule": "migrate registers the periodic jobs",
    "usage.trackedevent": "migrate starts an empty plan with the older endpoint's two events",
    "notifications.notificationrule": "a data migration seeds the customer messages",
    "payments.matchingrule": "a data migration seeds the default matching rules",
}
NO_MATCH = "zz-nothing-matches-this-zz"


def _changelists():
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        yield model._meta.label_lower, model_admin, url


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.test", "pw-x-123456")
    client.force_login(user)
    return client


def test_every_registered_model_has_its_own_message():
    labels = {label for label, _, _ in _changelists()}
    assert labels <= set(EMPTY_MESSAGES), sorted(labels - set(EMPTY_MESSAGES))


def test_a_model_without_a_message_gets_the_generic_one():
    class Unknown:
        class _meta:
            label_lower = "elsewhere.widget"
            verbose_name_plural = "widgets"

    class UnknownAdmin:
        model = Unknown

    assert empty_message(UnknownAdmin()) == DEFAULT_MESSAGE.format(name="widgets")

    class OwnAdmin(UnknownAdmin):
        empty_message = "Widgets come from the widget feed."

    assert empty_message(OwnAdmin()) == "Widgets come from the widget feed."


@pytest.mark.django_db
def test_each_empty_changelist_says_what_would_appear_and_why(superuser_client):
    non_empty = set()
    for label, model_admin, url in _changelists():
        response = superuser_client.get(url)
        assert response.status_code == 200, label
        html = response.content.decode()
        if response.context["cl"].result_count:
            non_empty.add(label)
            assert 'id="empty-state"' not in html, label
            continue
        assert 'id="empty-state"' in html, label
        assert escape(empty_message(model_admin)) in html, label
        assert 'id="result_list"' not in html, label
    assert non_empty == set(NOT_EMPTY_AFTER_MIGRATE)


@pytest.mark.django_db
def test_the_webhook_inbox_explains_where_events_come_from(superuser_client):
    response = superuser_client.get(reverse("admin:integrations_webhookevent_changelist"))
    assert "No webhook events yet." in response.content.decode()
    assert "/webhooks/&lt;provider&gt;/" in response.content.decode()


@pytest.mark.django_db
def test_a_search_that_matches_nothing_says_so_and_clears(superuser_client):
    searched = 0
    for label, model_admin, url in _changelists():
        if not model_admin.get_search_fields(None):
            continue
        response = superuser_client.get(url, {SEARCH_VAR: NO_MATCH})
        assert response.status_code == 200, label
        html = response.content.decode()
        assert f"Nothing matches the search “{NO_MATCH}”" in html, label
        assert '<a class="empty-state-clear" href="?">' in html, label
        assert escape(empty_message(model_admin)) not in html, label
        searched += 1
    assert searched >= 10


@pytest.mark.django_db
def test_a_filter_that_matches_nothing_keeps_the_sort_when_cleared(superuser_client):
    url = reverse("admin:integrations_webhookevent_changelist")
    response = superuser_client.get(url, {"status__exact": "dead", "o": "1"})
    html = response.content.decode()
    assert "Nothing matches these filters." in html
    assert '<a class="empty-state-clear" href="?o=1">' in html
    assert "No webhook events yet." not in html
