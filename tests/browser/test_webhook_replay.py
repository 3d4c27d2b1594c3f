"""Ops replays a failed webhook event by clicking Replay on its page in Chromium (issue 11
items 7, 8); a role that may only read the inbox sees no button."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.models import Customer, CustomerIdentifier
from integrations.models import WebhookEvent
from integrations.webhooks.inbox import webhook_arrivals_move
from integrations.webhooks.registry import register_webhook_endpoint, unregister_webhook_endpoint
from integrations.webhooks.standard import StandardWebhooksEndpoint
from tests.browser.conftest import Browser
from tests.factories import make_staff
from tests.integrations.webhooks.support import PROVIDER, URL, Handlers, signed

MISSING_CUSTOMER_PK = 4242
S = WebhookEvent.Status


@pytest.fixture
def handlers() -> Iterator[Handlers]:
    """The throwaway ``test-provider`` endpoint, registered in this process (the live server's)."""
    found = Handlers()
    endpoint = StandardWebhooksEndpoint(
        name=PROVIDER,
        secrets=lambda: [django_settings.SANDBOX_WEBHOOK_SECRET],
        handlers={"customer.linked": found.link_customer},
    )
    register_webhook_endpoint(endpoint)
    yield found
    unregister_webhook_endpoint(PROVIDER)


def _failed_event() -> WebhookEvent:
    """A delivery about a customer not recorded yet: its processing fails, to be retried."""
    body, headers = signed(
        "customer.linked", {"id": "cus_browser", "customer_pk": MISSING_CUSTOMER_PK}
    )
    response = Client().post(URL, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 200, response.content
    webhook_arrivals_move()  # stored as an arrival (a SQLite file in autocommit): into the inbox
    event = WebhookEvent.objects.get(event_id=headers["webhook-id"])
    if event.status == S.RECEIVED:  # processing is queued, not run in the request
        from integrations.webhooks.processing import webhook_event_process

        event = webhook_event_process(event_id=event.pk)
    assert event.status == S.FAILED, event.last_error
    assert "DoesNotExist" in event.last_error
    return event


def _page(event: WebhookEvent) -> str:
    return reverse("admin:integrations_webhookevent_change", args=[event.pk])


def test_ops_replays_a_failed_event_from_its_page(browser: Browser, handlers: Any):
    event = _failed_event()
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(_page(event))
    browser.shot("failed event page")
    assert "DoesNotExist" in browser.text("body")
    assert browser.has("#webhook-replay-button")

    # The cause is fixed: the customer the event is about is recorded now (with the id it names).
    Customer.objects.create(pk=MISSING_CUSTOMER_PK, name="Late Customer")
    browser.click("#webhook-replay-button")
    browser.shot("after replay")

    assert browser.path == _page(event)
    assert browser.messages() == [f"Replayed {event}: processed."]
    assert not browser.has("#webhook-replay-button")
    event.refresh_from_db()
    assert event.status == S.PROCESSED
    assert CustomerIdentifier.objects.filter(external_id="cus_browser").exists()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_a_role_that_cannot_replay_sees_no_replay_button(
    browser: Browser, handlers: Any, role: str
):
    event = _failed_event()
    browser.sign_in(make_staff(role, role=role))

    browser.visit(_page(event))
    browser.shot(f"{role} on the failed event page")

    assert not browser.has("#webhook-replay-button")
    event.refresh_from_db()
    assert event.status == S.FAILED
