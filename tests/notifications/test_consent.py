"""Issue 13 item 4 (core): the consent ledger. Append-only rows per customer and channel with
source and time; the newest decides; opt-in/opt-out services record a typed DomainEvent on the
customer's timeline; the notification workflow refuses an opted-out channel before any call,
on every channel (the e-mail here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Customer
from integrations.models import DomainEvent
from notifications.consent.selectors import consent_refusal, consent_state, consent_states
from notifications.consent.services import consent_opt_in, consent_opt_out
from notifications.exceptions import NotificationNotAllowed
from notifications.models import ConsentRecord, NotificationStatus
from notifications.services import notification_queue
from notifications.workflows import notification_deliver
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def test_no_record_means_nothing_was_said(customer: Customer) -> None:
    state = consent_state(customer_id=customer.pk, channel="sms")

    assert state.record is None and not state.opted_out
    assert consent_refusal(customer_id=customer.pk, channel="sms") is None


def test_opt_out_then_in_is_two_rows_and_two_timeline_events(customer: Customer) -> None:
    staff = make_staff("support", role="support")
    out = consent_opt_out(customer=customer, channel="sms", source="api", detail="asked by app")
    back = consent_opt_in(customer=customer, channel="sms", source="staff", actor=staff)

    assert ConsentRecord.objects.count() == 2
    assert consent_state(customer_id=customer.pk, channel="sms").record == back
    events = list(DomainEvent.objects.filter(customer=customer, type__startswith="consent."))
    assert sorted(e.type for e in events) == ["consent.opted_in", "consent.opted_out"]
    opted_out = next(e for e in events if e.type == "consent.opted_out")
    assert opted_out.data == {
        "channel": "sms",
        "channel_label": "SMS",
        "source": "api",
        "detail": "asked by app",
    }
    assert opted_out.subject_id == str(out.pk)


def test_the_same_word_twice_writes_nothing(customer: Customer) -> None:
    first = consent_opt_out(customer=customer, channel="whatsapp", source="api")
    second = consent_opt_out(customer=customer, channel="whatsapp", source="staff")

    assert second == first
    assert ConsentRecord.objects.count() == 1


def test_an_older_decision_does_not_override_a_newer_one(customer: Customer) -> None:
    now = timezone.now()
    consent_opt_out(customer=customer, channel="sms", source="api", occurred_at=now)

    consent_opt_in(
        customer=customer, channel="sms", source="api", occurred_at=now - timedelta(minutes=1)
    )

    assert consent_state(customer_id=customer.pk, channel="sms").opted_out
    assert ConsentRecord.objects.count() == 1


def test_the_ledger_is_append_only(customer: Customer) -> None:
    record = consent_opt_out(customer=customer, channel="sms", source="api")

    with pytest.raises(TypeError):
        record.save()
    with pytest.raises(TypeError):
        ConsentRecord.objects.update(source="x")


def test_an_unknown_channel_or_a_blank_source_is_refused(customer: Customer) -> None:
    with pytest.raises(NotificationNotAllowed):
        consent_opt_out(customer=customer, channel="fax", source="api")
    with pytest.raises(NotificationNotAllowed):
        consent_opt_out(customer=customer, channel="sms", source="  ")
    assert ConsentRecord.objects.count() == 0


def test_states_per_channel(customer: Customer) -> None:
    consent_opt_out(customer=customer, channel="email", source="api")

    states = consent_states(customer_id=customer.pk)

    assert {c: s.opted_out for c, s in states.items()} == {
        "email": True,
        "whatsapp": False,
        "sms": False,
    }


def test_an_opted_out_email_is_not_sent_and_the_reason_is_on_the_timeline(
    customer: Customer,
) -> None:
    consent_opt_out(customer=customer, channel="email", source="staff")
    notification = notification_queue(
        customer=customer, channel="email", template="order_paid", subject="Paid", body="Paid!"
    )

    notification = notification_deliver(notification=notification)

    assert mail.outbox == []
    assert notification.status == NotificationStatus.FAILED
    assert notification.error.startswith("The customer opted out of E-mail on ")
    failed = DomainEvent.objects.get(type="notification.failed", customer=customer)
    assert "(staff)" in failed.data["error"]


def test_after_opting_back_in_the_email_goes(customer: Customer) -> None:
    consent_opt_out(customer=customer, channel="email", source="staff")
    consent_opt_in(customer=customer, channel="email", source="staff")

    notification = notification_deliver(
        notification=notification_queue(
            customer=customer, channel="email", template="order_paid", subject="Paid", body="P"
        )
    )

    assert notification.status == NotificationStatus.SENT
    assert len(mail.outbox) == 1


def test_the_current_state_is_one_query(customer: Customer, django_assert_num_queries: Any) -> None:
    for _ in range(3):
        consent_opt_out(customer=customer, channel="sms", source="api")
        consent_opt_in(customer=customer, channel="sms", source="api")

    with django_assert_num_queries(1):
        consent_refusal(customer_id=customer.pk, channel="sms")
