"""Resending a message (issue 13 item 8): a new notification linked to the original, audited
with the staff member, delivered after commit through ``notification_deliver`` (so consent
applies), retried while the provider is down."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from integrations.deliveries.relay import delivery_run
from integrations.models import Delivery, DomainEvent
from notifications.consent.services import consent_opt_out
from notifications.exceptions import NotificationNotAllowed
from notifications.models import FollowUpReason, Notification, NotificationStatus
from notifications.resend import notification_resend
from notifications.services import notification_mark_failed, notification_queue
from tests.factories import make_customer, make_staff

DELIVER = "notifications.deliver_resent"


def _failed_email(**customer: str) -> Notification:
    ana = make_customer(name="Ana Souza", email="ana@example.test", **customer)
    original = notification_queue(
        customer=ana, channel="email", template="order_paid", subject="Paid", body="Thanks, Ana."
    )
    return notification_mark_failed(notification=original, error="mailbox full")


def _run_delivery(copy: Notification) -> Delivery:
    event = DomainEvent.objects.get(type="notification.resent", subject_id=str(copy.pk))
    return delivery_run(delivery_id=Delivery.objects.get(subscriber=DELIVER, event=event).pk)


def test_resend_queues_a_linked_copy_audits_it_and_sends_it_after_commit(db: None) -> None:
    original = _failed_email()
    agent = make_staff("agent", role="support")

    copy = notification_resend(notification=original, actor=agent)

    assert copy.pk != original.pk and copy.status == NotificationStatus.QUEUED
    assert (copy.previous_id, copy.previous_reason) == (original.pk, FollowUpReason.RESEND)
    assert (copy.channel, copy.template, copy.subject, copy.body, copy.recipient) == (
        "email",
        "order_paid",
        "Paid",
        "Thanks, Ana.",
        "ana@example.test",
    )
    resent = DomainEvent.objects.get(type="notification.resent")
    assert resent.actor_id == agent.pk and resent.subject_id == str(copy.pk)
    assert resent.data["original"] == original.pk
    assert mail.outbox == []  # nothing leaves inside the staff member's request transaction

    assert _run_delivery(copy).status == Delivery.Status.SUCCEEDED
    copy.refresh_from_db()
    assert copy.status == NotificationStatus.SENT
    assert [m.to for m in mail.outbox] == [["ana@example.test"]]
    original.refresh_from_db()
    assert original.status == NotificationStatus.FAILED  # the original keeps its history


def test_resend_to_the_customers_current_address(db: None) -> None:
    original = _failed_email()
    original.customer.email = "ana.souza@example.test"
    original.customer.save(update_fields=["email"])

    copy = notification_resend(
        notification=original, actor=make_staff("agent", role="support"), to_current_address=True
    )

    assert copy.recipient == "ana.souza@example.test"
    resent = DomainEvent.objects.get(type="notification.resent")
    assert resent.data["original_recipient"] == "ana@example.test"


def test_without_a_current_address_nothing_is_written(db: None) -> None:
    ana = make_customer(name="Ana", email="", phone="+5511987654321")
    original = notification_queue(customer=ana, channel="whatsapp", template="t", body="Oi")
    ana.phone = ""
    ana.save(update_fields=["phone"])

    with pytest.raises(NotificationNotAllowed):
        notification_resend(
            notification=original,
            actor=make_staff("agent", role="support"),
            to_current_address=True,
        )

    assert Notification.objects.count() == 1
    assert not DomainEvent.objects.filter(type="notification.resent").exists()


def test_a_resend_to_an_opted_out_channel_is_refused_before_any_call(db: None) -> None:
    original = _failed_email()
    consent_opt_out(customer=original.customer, channel="email", source="staff")

    copy = notification_resend(notification=original, actor=make_staff("agent", role="support"))
    _run_delivery(copy)

    copy.refresh_from_db()
    assert copy.status == NotificationStatus.FAILED and "opted out" in copy.error
    assert mail.outbox == []


def test_a_mail_server_down_leaves_the_copy_queued_and_the_delivery_retries(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _failed_email()
    copy = notification_resend(notification=original, actor=make_staff("agent", role="support"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    delivery = _run_delivery(copy)

    assert delivery.status == Delivery.Status.FAILED
    copy.refresh_from_db()
    assert copy.status == NotificationStatus.QUEUED
    assert Notification.objects.filter(previous=original).count() == 1


def test_the_resend_url_refuses_a_role_without_the_permission(client, db: None) -> None:
    original = _failed_email()
    client.force_login(make_staff("sales", role="sales"))
    url = reverse("admin:notifications_notification_resend", args=[original.pk])

    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert Notification.objects.count() == 1
