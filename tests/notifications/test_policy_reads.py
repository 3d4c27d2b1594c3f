"""The send policy's plain-SQL reads (``notifications.policy.reads``) answer exactly what the ORM
selectors answer, on whichever database the suite runs (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.consent.selectors import latest_consent
from notifications.consent.services import consent_opt_in, consent_opt_out
from notifications.models import NotificationChannel
from notifications.policy.models import RateLimitCharge
from notifications.policy.reads import (
    charge_or_count,
    consent_now,
    last_inbound_at,
    preference_now,
    suppression_now,
)
from notifications.policy.selectors import preference_allowed, whatsapp_last_inbound
from notifications.policy.services import notification_preferences_set, whatsapp_inbound_record
from notifications.selectors import email_suppression_for
from notifications.services import email_suppression_add, notification_queue
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def test_the_reads_answer_what_the_orm_selectors_answer() -> None:
    now = timezone.now()
    quiet, talker = make_customer(), make_customer()
    consent_opt_out(
        customer=talker, channel="sms", source="twilio inbound STOP", occurred_at=now - timedelta(2)
    )
    consent_opt_in(customer=talker, channel="sms", source="staff", occurred_at=now - timedelta(1))
    consent_opt_out(customer=talker, channel="whatsapp", source="staff")
    notification_preferences_set(customer=talker, preferences={("marketing", "sms"): False})
    whatsapp_inbound_record(
        customers=[talker],
        provider="twilio",
        phone=talker.phone,
        received_at=now - timedelta(hours=3),
    )
    whatsapp_inbound_record(
        customers=[talker],
        provider="twilio",
        phone=talker.phone,
        received_at=now - timedelta(hours=30),
    )
    email_suppression_add(address=talker.email.upper(), reason="bounced")

    for customer in (quiet, talker):
        for channel in NotificationChannel.values:
            record = latest_consent(customer_id=customer.pk, channel=channel)
            expected = (
                None if record is None else (record.action, record.occurred_at, record.source)
            )
            assert consent_now(customer_id=customer.pk, channel=channel) == expected
            for category in ("transactional", "marketing"):
                assert preference_now(
                    customer_id=customer.pk, category=category, channel=channel
                ) == preference_allowed(customer_id=customer.pk, category=category, channel=channel)
        assert last_inbound_at(customer_id=customer.pk, provider="twilio") == (
            whatsapp_last_inbound(customer_id=customer.pk, provider="twilio")
        )
        row = email_suppression_for(customer.email)
        expected_suppression = None if row is None else (row.reason, row.created_at)
        assert suppression_now(address=f" {customer.email.upper()} ") == expected_suppression
    assert consent_now(customer_id=talker.pk, channel="sms")[0] == "opt_in"  # type: ignore[index]
    assert preference_now(customer_id=talker.pk, category="marketing", channel="sms") is False
    assert last_inbound_at(customer_id=talker.pk, provider="twilio") is not None
    assert suppression_now(address=talker.email) is not None


def test_the_charge_counts_each_window_and_charges_each_notification_once() -> None:
    customer = make_customer()
    now = timezone.now()
    limits = [(timedelta(hours=1), 2, "hour"), (timedelta(days=1), 3, "day")]
    sent = [
        notification_queue(customer=customer, channel="email", template="t", body=f"b{i}")
        for i in range(4)
    ]
    # Two hours ago: counts for the day only.
    assert (
        charge_or_count(
            customer_id=customer.pk,
            notification_id=sent[0].pk,
            now=now - timedelta(hours=2),
            limits=limits,
        )
        is None
    )
    assert (
        charge_or_count(customer_id=customer.pk, notification_id=sent[1].pk, now=now, limits=limits)
        is None
    )
    # A retry of the same send is not charged again.
    assert (
        charge_or_count(customer_id=customer.pk, notification_id=sent[1].pk, now=now, limits=limits)
        is None
    )
    assert RateLimitCharge.objects.filter(customer=customer).count() == 2
    assert (
        charge_or_count(customer_id=customer.pk, notification_id=sent[2].pk, now=now, limits=limits)
        is None
    )
    # Now 2 in the hour (the limit) and 3 in the day: the hour's limit speaks first.
    assert charge_or_count(
        customer_id=customer.pk, notification_id=sent[3].pk, now=now, limits=limits
    ) == ("hour", 2, 2)
    assert RateLimitCharge.objects.filter(customer=customer).count() == 3
