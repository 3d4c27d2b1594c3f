"""Ops run outbound webhook endpoints from the admin in Chromium (issue 14 item 4): add one (the
secret shown once), send a test event, rotate the secret, recover failed messages since a time,
resend one message; each button clicked, each effect seen at a local receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.access.roles import sync_roles
from accounts.customers.services import customer_note_add
from integrations.models import WebhookEndpoint, WebhookMessage
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_staff
from tests.support.webhook_receiver import Receiver, webhook_receiver

Status = WebhookMessage.Status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


def _page(endpoint: WebhookEndpoint) -> str:
    return reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk])


def _add_endpoint(browser: Browser, receiver: Receiver) -> WebhookEndpoint:
    browser.visit(reverse("admin:integrations_webhookendpoint_add"))
    browser.type("#id_url", f"{receiver.url}/erp")
    browser.type("#id_description", "ERP")
    browser.find("#id_event_types_text").clear()
    browser.type("#id_event_types_text", "note.added, webhook_endpoint.*")
    browser.click("input[name=_save]")
    browser.shot("secret shown once")
    secret = browser.text("#webhook-secret")
    assert secret.startswith("whsec_")
    receiver.secrets.append(secret)
    endpoint = WebhookEndpoint.objects.get()
    assert secret not in endpoint.secret_ciphertext
    browser.click("#webhook-secret-done")
    assert browser.path == _page(endpoint)
    assert secret not in browser.text("body")  # never shown again
    return endpoint


def _note(body: str) -> None:
    with transaction.atomic():
        customer_note_add(customer=make_customer(), author=make_staff(f"w-{body}"), body=body)


def test_ops_add_an_endpoint_send_a_test_event_and_rotate_its_secret(
    browser: Browser, receiver: Receiver
) -> None:
    sync_roles()
    browser.sign_in(make_staff("ops", role="ops"))
    endpoint = _add_endpoint(browser, receiver)
    assert endpoint.event_types == ["note.added", "webhook_endpoint.*"]

    browser.click("#webhook-send-test-button")
    browser.shot("test event sent")
    assert browser.path == _page(endpoint)
    [test] = WebhookMessage.objects.filter(event_type="webhook.test")
    assert test.status == Status.SUCCEEDED
    assert receiver.taken[test.msg_id]["body"]["data"]["test"] is True
    assert test.msg_id in browser.text("#webhook-attempts")
    assert "200" in browser.text("#webhook-attempts")

    old = receiver.secrets[0]
    browser.click("#webhook-rotate-button")
    browser.shot("rotated secret shown once")
    new = browser.text("#webhook-secret")
    assert new.startswith("whsec_") and new != old
    receiver.secrets[:] = [new]
    browser.click("#webhook-secret-done")
    _note("After the rotation.")
    note = WebhookMessage.objects.get(event_type="note.added")
    assert note.status == Status.SUCCEEDED
    assert len(receiver.taken[note.msg_id]["headers"]["webhook-signature"].split(" ")) == 2


def test_ops_recover_failed_messages_since_a_time_and_resend_one(
    browser: Browser, receiver: Receiver
) -> None:
    sync_roles()
    browser.sign_in(make_staff("ops", role="ops"))
    endpoint = _add_endpoint(browser, receiver)
    receiver.answer(500, 500)
    _note("first")
    _note("second")
    first, second = WebhookMessage.objects.filter(event_type="note.added").order_by("id")
    WebhookMessage.objects.filter(pk=first.pk).update(status=Status.DEAD)
    WebhookMessage.objects.filter(pk=second.pk).update(
        status=Status.DEAD, created_at=timezone.now() - timedelta(days=3)
    )

    browser.visit(_page(endpoint))
    assert "500" in browser.text("#webhook-attempts")
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    browser.find("#webhook-recover-since").clear()
    browser.type("#webhook-recover-since", since)
    browser.click("#webhook-recover-button")
    browser.shot("recovered")
    assert browser.messages() == [f"1 failed message(s) since {since} UTC queued again."]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.SUCCEEDED, Status.DEAD)

    browser.visit(reverse("admin:integrations_webhookmessage_change", args=[second.pk]))
    browser.click("#webhook-resend-button")
    browser.shot("resent")
    assert browser.messages() == [f"Queued {second.msg_id} again (same webhook-id)."]
    second.refresh_from_db()
    assert second.status == Status.SUCCEEDED
    assert second.msg_id in receiver.taken
    assert "200" in browser.text("#webhook-attempts")


def test_finance_sees_no_outbound_webhook_screens(browser: Browser) -> None:
    sync_roles()
    browser.sign_in(make_staff("finance", role="finance"))
    browser.visit(reverse("admin:index"))
    assert "Outbound webhook endpoints" not in browser.text("body")
