"""Issue 13 item 4: the send policy refuses before any provider call - an opted-out customer is
never messaged, marketing needs an opt-in, a preference turns a channel off for a category
(never transactional e-mail), a suppressed address is refused, and a per-customer rate limit
holds. Each refusal is on the notification (code and sentence) and on the timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.customers.services import customer_merge
from integrations.models import DomainEvent
from notifications.consent.services import consent_opt_in, consent_opt_out
from notifications.exceptions import NotificationNotAllowed
from notifications.models import (
    MessageCategory,
    Notification,
    NotificationStatus,
    Refusal,
)
from notifications.policy.decide import Verdict, notification_policy_decide
from notifications.policy.models import NotificationPreference, RateLimitCharge, WhatsAppInbound
from notifications.policy.selectors import preferences_of
from notifications.policy.services import notification_preferences_set, whatsapp_inbound_record
from notifications.services import email_suppression_add, notification_queue
from notifications.workflows import notification_deliver
from tests.factories import make_customer, make_staff
from tests.support.fake_twilio import FakeTwilio

pytestmark = pytest.mark.django_db
PHONE = "+5511987654321"


def queue(customer: Any, channel: str = "sms", **kw: Any) -> Notification:
    return notification_queue(
        customer=customer,
        channel=channel,
        template=kw.pop("template", "order_paid"),
        body=kw.pop("body", "Your order is paid."),
        **kw,
    )


def refusal_event(notification: Notification) -> DomainEvent:
    return DomainEvent.objects.get(type="notification.failed", subject_id=str(notification.pk))


def test_an_opted_out_customer_is_never_messaged(policy_twilio: FakeTwilio) -> None:
    customer = make_customer(phone=PHONE)
    consent_opt_out(customer=customer, channel="sms", source="twilio inbound STOP")

    result = notification_deliver(notification=queue(customer, urgent=True))

    assert result.status == NotificationStatus.FAILED
    assert result.refusal == Refusal.OPTED_OUT
    assert "opted out of SMS" in result.error
    assert policy_twilio.seen == [], "refused before any call"
    event = refusal_event(result)
    assert event.data["refusal"] == "opted_out" and "opted out of SMS" in event.data["error"]
    assert event.customer_id == customer.pk, "on the customer's timeline"


def test_marketing_without_an_opt_in_is_refused_and_with_one_is_sent(
    policy_twilio: FakeTwilio,
) -> None:
    customer = make_customer(phone=PHONE)
    refused = notification_deliver(
        notification=queue(customer, category=MessageCategory.MARKETING, template="promo")
    )
    assert (refused.status, refused.refusal) == (NotificationStatus.FAILED, Refusal.NO_OPT_IN)
    assert "without the customer's opt-in" in refused.error
    assert policy_twilio.seen == []

    consent_opt_in(customer=customer, channel="sms", source="staff")
    sent = notification_deliver(
        notification=queue(customer, category=MessageCategory.MARKETING, template="promo2")
    )
    assert sent.status == NotificationStatus.SENT
    assert [m["to"] for m in policy_twilio.messages] == [PHONE]


def test_an_opt_in_on_another_channel_does_not_count_for_marketing() -> None:
    customer = make_customer(email="ana@example.test")
    consent_opt_in(customer=customer, channel="whatsapp", source="staff")

    result = notification_deliver(
        notification=queue(customer, "email", category=MessageCategory.MARKETING)
    )

    assert result.refusal == Refusal.NO_OPT_IN
    assert mail.outbox == []


def test_a_preference_turns_a_channel_off_for_a_category_only(policy_twilio: FakeTwilio) -> None:
    customer = make_customer(phone=PHONE)
    consent_opt_in(customer=customer, channel="sms", source="staff")
    notification_preferences_set(
        customer=customer, preferences={("marketing", "sms"): False}, actor=make_staff("support")
    )

    refused = notification_deliver(
        notification=queue(customer, category=MessageCategory.MARKETING, template="promo")
    )
    transactional = notification_deliver(notification=queue(customer))

    assert (refused.status, refused.refusal) == (NotificationStatus.FAILED, Refusal.PREFERENCE)
    assert refused.error == "The customer turned SMS off for marketing messages."
    assert transactional.status == NotificationStatus.SENT
    assert len(policy_twilio.creates()) == 1


def test_transactional_email_is_always_allowed() -> None:
    customer = make_customer(email="ana@example.test")
    with pytest.raises(NotificationNotAllowed):
        notification_preferences_set(
            customer=customer, preferences={("transactional", "email"): False}
        )
    # Even a row that says otherwise (written around the service) does not stop it.
    NotificationPreference.objects.create(
        customer=customer, category="transactional", channel="email", allowed=False
    )

    result = notification_deliver(notification=queue(customer, "email"))

    assert result.status == NotificationStatus.SENT
    assert [m.to for m in mail.outbox] == [["ana@example.test"]]


def test_preferences_are_a_ledger_with_one_timeline_entry_per_change() -> None:
    customer = make_customer()
    staff = make_staff("support")
    notification_preferences_set(
        customer=customer,
        preferences={("marketing", "whatsapp"): False, ("marketing", "email"): True},
        actor=staff,
    )
    again = notification_preferences_set(
        customer=customer, preferences={("marketing", "whatsapp"): False}, actor=staff
    )
    notification_preferences_set(
        customer=customer, preferences={("marketing", "whatsapp"): True}, actor=staff
    )

    assert again == [], "the same word again writes nothing"
    assert NotificationPreference.objects.count() == 2
    assert preferences_of(customer_id=customer.pk)[("marketing", "whatsapp")] is True
    changes = list(
        DomainEvent.objects.filter(type="notification.preferences_changed")
        .order_by("id")
        .values_list("data__changes", flat=True)
    )
    assert changes == ["Marketing by WhatsApp: off", "Marketing by WhatsApp: on"]


def test_a_suppressed_address_is_refused_by_the_policy() -> None:
    customer = make_customer(email="ana@example.test")
    email_suppression_add(address="ana@example.test", reason="bounced", detail="550")

    result = notification_deliver(notification=queue(customer, "email"))

    assert (result.status, result.refusal) == (NotificationStatus.FAILED, Refusal.SUPPRESSED)
    assert "suppression list" in result.error
    assert mail.outbox == []


def test_the_rate_limit_refuses_the_message_past_it_and_urgent_ones_go_out(
    policy_twilio: FakeTwilio, settings: Any
) -> None:
    settings.NOTIFICATION_RATE_LIMIT_PER_HOUR = 3
    settings.NOTIFICATION_RATE_LIMIT_PER_DAY = 10
    customer = make_customer(phone=PHONE, email="ana@example.test")
    sent = [
        notification_deliver(notification=queue(customer, channel, template=f"t{i}"))
        for i, channel in enumerate(["sms", "email", "sms"])
    ]
    over = notification_deliver(notification=queue(customer, template="t3"))
    urgent = notification_deliver(notification=queue(customer, template="t4", urgent=True))

    assert [n.status for n in sent] == [NotificationStatus.SENT] * 3
    assert (over.status, over.refusal) == (NotificationStatus.FAILED, Refusal.RATE_LIMITED)
    assert (
        over.error
        == "Rate limit: the customer already had 3 messages in the last hour (at most 3)."
    )
    assert urgent.status == NotificationStatus.SENT, "urgent transactional: not limited"
    assert len(policy_twilio.creates()) == 3, "nothing was sent for the refused one"
    assert RateLimitCharge.objects.count() == 3


def test_the_rate_limit_is_rolling_and_counts_each_notification_once(settings: Any) -> None:
    settings.NOTIFICATION_RATE_LIMIT_PER_HOUR = 1
    settings.NOTIFICATION_RATE_LIMIT_PER_DAY = 2
    customer = make_customer(email="ana@example.test")
    first = queue(customer, "email", template="a")
    now = timezone.now()

    assert (
        notification_policy_decide(notification=first, now=now - timedelta(hours=2)).verdict
        == Verdict.SEND
    )
    # A retry of the same send (the provider was down) is not counted again.
    assert notification_policy_decide(notification=first, now=now).verdict == Verdict.SEND
    second = queue(customer, "email", template="b")
    assert notification_policy_decide(notification=second, now=now).verdict == Verdict.SEND
    third = queue(customer, "email", template="c")
    decision = notification_policy_decide(notification=third, now=now + timedelta(hours=2))
    assert decision.refusal == Refusal.RATE_LIMITED, "two in the rolling day"
    assert "last day" in decision.reason
    later = notification_policy_decide(notification=third, now=now + timedelta(hours=23))
    assert later.verdict == Verdict.SEND, "the first one left the day's window"


def test_merging_customers_keeps_the_policy_rows_of_both() -> None:
    keep = make_customer(phone=PHONE)
    duplicate = make_customer(phone=PHONE)
    for customer in (keep, duplicate):
        notification_preferences_set(customer=customer, preferences={("marketing", "sms"): False})
        whatsapp_inbound_record(
            customers=[customer], provider="twilio", phone=PHONE, received_at=timezone.now()
        )
        notification_policy_decide(notification=queue(customer, "sms", template=f"x{customer.pk}"))

    customer_merge(keep=keep, duplicates=[duplicate])

    assert NotificationPreference.objects.filter(customer=keep).count() == 2
    assert WhatsAppInbound.objects.filter(customer=keep).count() == 2
    assert RateLimitCharge.objects.filter(customer=keep).count() == 2
