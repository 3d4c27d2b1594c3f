"""Ops hear of an event that goes dead, once (issue 11 item 7); the page's Replay button."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from accounts.access.roles import sync_roles
from integrations.models import WebhookEvent
from integrations.webhooks.processing import webhook_event_process
from tests.factories import make_staff
from tests.integrations.webhooks.support import PROVIDER, make_due, signed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(db: None) -> None:
    sync_roles()


S = WebhookEvent.Status


def _stored(deliver, event_type, data) -> WebhookEvent:
    response = deliver(*signed(event_type, data))
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["id"])


def test_an_event_going_dead_sends_ops_one_email_and_a_second_processing_none(
    handlers, deliver, customer, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    make_staff("ops", role="ops", email="ops@example.test")
    make_staff("boss", role="admin", email="boss@example.test")
    make_staff("support", role="support", email="support@example.test")
    handlers.flaky_failures_left = 10
    event = _stored(deliver, "test.flaky", {"id": "cus_x", "customer_pk": customer.pk})
    assert event.status == S.FAILED  # a failure that is retried is no alert
    assert mail.outbox == []

    make_due(event)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == S.DEAD

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["boss@example.test", "ops@example.test"]
    assert PROVIDER in message.subject and "test.flaky" in message.subject
    assert event.event_id in message.body
    assert "ProviderSaidNo: flaky provider" in message.body
    assert reverse("admin:integrations_webhookevent_change", args=[event.pk]) in message.body

    # Processing the dead event again (a sweep, a duplicate task) changes nothing, sends nothing.
    make_due(event)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == S.DEAD
    assert len(mail.outbox) == 1


def test_a_mail_server_down_does_not_break_the_dead_transition(
    handlers, deliver, customer, settings, monkeypatch
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    make_staff("ops", role="ops", email="ops@example.test")

    def broken(**kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("integrations.webhooks.alerts.send_mail", broken)
    handlers.flaky_failures_left = 1
    event = _stored(deliver, "test.flaky", {"id": "cus_y", "customer_pk": customer.pk})
    assert event.status == S.DEAD


def _page(event: WebhookEvent) -> str:
    return reverse("admin:integrations_webhookevent_change", args=[event.pk])


def test_ops_replays_a_failed_event_from_its_page(handlers, deliver, customer, client):
    handlers.flaky_failures_left = 1
    event = _stored(deliver, "test.flaky", {"id": "cus_p", "customer_pk": customer.pk})
    assert event.status == S.FAILED
    client.force_login(make_staff("ops", role="ops"))

    page = client.get(_page(event)).content.decode()
    assert 'id="webhook-replay-button"' in page
    assert 'id="webhook-replay-form"' in page

    url = reverse("admin:integrations_webhookevent_replay", args=[event.pk])
    assert client.get(url).status_code == 405  # POST only
    response = client.post(url, follow=True)

    assert response.redirect_chain == [(_page(event), 302)]
    assert [str(m) for m in response.context["messages"]] == [f"Replayed {event}: processed."]
    event.refresh_from_db()
    assert event.status == S.PROCESSED
    # A processed event offers no Replay on its page (the list's action still can).
    assert 'id="webhook-replay-button"' not in response.content.decode()


def test_a_user_without_the_change_permission_sees_no_replay_and_cannot_post_it(
    handlers, deliver, customer, client
):
    handlers.flaky_failures_left = 1
    event = _stored(deliver, "test.flaky", {"id": "cus_q", "customer_pk": customer.pk})
    client.force_login(make_staff("finance", role="finance"))  # reads the inbox, cannot replay

    page = client.get(_page(event))
    assert page.status_code == 200
    assert 'id="webhook-replay-button"' not in page.content.decode()
    assert "webhook-replay-form" not in page.content.decode()

    url = reverse("admin:integrations_webhookevent_replay", args=[event.pk])
    assert client.post(url).status_code == 403
    event.refresh_from_db()
    assert event.status == S.FAILED
