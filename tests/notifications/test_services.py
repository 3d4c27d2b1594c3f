from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Customer
from integrations.events import render_summary
from integrations.exceptions import InvalidTransition
from integrations.models import DomainEvent
from notifications.exceptions import NotificationNotAllowed
from notifications.models import NOTIFICATION_TRANSITIONS, Notification, NotificationStatus
from notifications.services import (
    notification_mark_delivered,
    notification_mark_failed,
    notification_mark_read,
    notification_mark_sent,
    notification_queue,
)
from tests.factories import make_customer

N = NotificationStatus
WHEN = datetime(2025, 3, 4, 12, 30, tzinfo=UTC)


def _events(notification: Notification, type_: str | None = None) -> list[DomainEvent]:
    events = DomainEvent.objects.filter(
        subject_type__model="notification", subject_id=str(notification.pk)
    ).order_by("id")
    if type_ is not None:
        events = events.filter(type=type_)
    return list(events)


def _queue(customer: Customer, channel: str = "whatsapp") -> Notification:
    return notification_queue(
        customer=customer, channel=channel, template="order_paid", body="Your order is paid."
    )


def _notification_in(status: NotificationStatus, customer: Customer) -> Notification:
    """A notification brought to ``status`` through the services only."""
    notification = _queue(customer)
    if status == N.FAILED:
        return notification_mark_failed(notification=notification, error="Number not on WhatsApp")
    if status == N.QUEUED:
        return notification
    notification = notification_mark_sent(
        notification=notification,
        provider="sandbox",
        provider_message_id=f"wamid.{notification.pk}",
    )
    if status in (N.DELIVERED, N.READ):
        notification = notification_mark_delivered(notification=notification)
    if status == N.READ:
        notification = notification_mark_read(notification=notification)
    assert notification.status == status
    return notification


def _mark(notification: Notification, target: str, when: datetime | None = None) -> Notification:
    if target == N.SENT:
        return notification_mark_sent(
            notification=notification,
            provider="zapi",
            provider_message_id="wamid.X",
            occurred_at=when,
        )
    if target == N.DELIVERED:
        return notification_mark_delivered(notification=notification, occurred_at=when)
    if target == N.READ:
        return notification_mark_read(notification=notification, occurred_at=when)
    return notification_mark_failed(notification=notification, error="Bounced", occurred_at=when)


# --- queue ----------------------------------------------------------------------------------------


def test_queue_email_defaults_to_the_customers_address(customer: Customer) -> None:
    notification = notification_queue(
        customer=customer,
        channel="email",
        template="order_paid",
        subject="Payment received",
        body="Thanks!",
        occurred_at=WHEN,
    )

    notification.refresh_from_db()
    assert notification.status == N.QUEUED
    assert notification.recipient == "ana@example.test"
    assert (notification.subject, notification.body) == ("Payment received", "Thanks!")
    [event] = _events(notification)
    assert event.type == "notification.queued"
    assert event.customer_id == customer.pk
    assert event.occurred_at == WHEN
    assert event.data["channel"] == "email"
    assert render_summary(event) == "E-mail 'order_paid' to ana@example.test queued"


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
def test_queue_phone_channels_default_to_the_customers_phone(
    customer: Customer, channel: str
) -> None:
    notification = _queue(customer, channel)

    assert Notification.objects.get(pk=notification.pk).recipient == "+5511987654321"
    assert len(_events(notification, "notification.queued")) == 1


def test_queue_normalises_an_explicit_recipient(customer: Customer) -> None:
    sms = notification_queue(
        customer=customer, channel="sms", template="t", body="b", recipient="(11) 91234-5678"
    )
    email = notification_queue(
        customer=customer, channel="email", template="t", body="b", recipient=" Ana@Work.Test "
    )

    assert sms.recipient == "+5511912345678"
    assert email.recipient == "ana@work.test"


@pytest.mark.parametrize(
    ("channel", "recipient", "message"),
    [
        ("email", "", "has no e-mail address"),
        ("whatsapp", "", "has no phone number"),
        ("sms", "", "has no phone number"),
        ("sms", "12", "not a valid phone number"),
        ("email", "not-an-address", "not an e-mail address"),
        ("pigeon", "", "Unknown notification channel"),
    ],
)
@pytest.mark.django_db
def test_queue_refuses_without_a_usable_recipient(
    channel: str, recipient: str, message: str
) -> None:
    nobody = make_customer(email="", phone="")
    events_before = DomainEvent.objects.count()

    with pytest.raises(NotificationNotAllowed, match=message):
        notification_queue(
            customer=nobody, channel=channel, template="t", body="b", recipient=recipient
        )

    assert not Notification.objects.exists()
    assert DomainEvent.objects.count() == events_before


@pytest.mark.parametrize(("template", "body"), [(" ", "b"), ("t", "  ")])
def test_queue_refuses_a_blank_template_or_body(
    customer: Customer, template: str, body: str
) -> None:
    with pytest.raises(NotificationNotAllowed, match="needs a"):
        notification_queue(customer=customer, channel="email", template=template, body=body)

    assert not Notification.objects.exists()


# --- provider statuses ----------------------------------------------------------------------------


def test_sent_delivered_read_keep_their_times_and_events(customer: Customer) -> None:
    notification = _queue(customer)

    notification_mark_sent(
        notification=notification, provider="zapi", provider_message_id="wamid.1", occurred_at=WHEN
    )
    notification_mark_delivered(notification=notification, occurred_at=WHEN + timedelta(minutes=1))
    notification_mark_read(notification=notification, occurred_at=WHEN + timedelta(minutes=5))

    notification.refresh_from_db()
    assert notification.status == N.READ
    assert (notification.provider, notification.provider_message_id) == ("zapi", "wamid.1")
    assert notification.sent_at == WHEN
    assert notification.delivered_at == WHEN + timedelta(minutes=1)
    assert notification.read_at == WHEN + timedelta(minutes=5)
    events = _events(notification)
    assert [e.type for e in events] == [
        "notification.queued",
        "notification.sent",
        "notification.delivered",
        "notification.read",
    ]
    assert {e.customer_id for e in events} == {customer.pk}
    assert events[1].actor_label == "zapi"
    assert render_summary(events[1]) == "WhatsApp 'order_paid' to +5511987654321 sent via zapi"
    assert render_summary(events[3]) == "WhatsApp 'order_paid' to +5511987654321 read"


def test_read_without_a_delivery_report_fills_in_delivered_at(customer: Customer) -> None:
    notification = _notification_in(N.SENT, customer)

    notification_mark_read(notification=notification, occurred_at=WHEN)

    notification.refresh_from_db()
    assert (notification.status, notification.read_at, notification.delivered_at) == (
        N.READ,
        WHEN,
        WHEN,
    )


def test_failed_keeps_the_error(customer: Customer) -> None:
    notification = _notification_in(N.SENT, customer)

    notification_mark_failed(notification=notification, error="x" * 300, occurred_at=WHEN)

    notification.refresh_from_db()
    assert notification.status == N.FAILED
    assert notification.error == "x" * 200
    [event] = _events(notification, "notification.failed")
    assert event.customer_id == customer.pk
    assert event.data["error"] == "x" * 300


def test_mark_sent_needs_a_provider(customer: Customer) -> None:
    notification = _queue(customer)

    with pytest.raises(NotificationNotAllowed, match="needs the provider"):
        notification_mark_sent(notification=notification, provider=" ", provider_message_id="m")

    notification.refresh_from_db()
    assert notification.status == N.QUEUED
    assert not _events(notification, "notification.sent")


ALLOWED = [(c, t) for c, targets in NOTIFICATION_TRANSITIONS.items() for t in sorted(targets)]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_every_allowed_move(customer: Customer, current: str, target: str) -> None:
    notification = _notification_in(N(current), customer)

    _mark(notification, target, WHEN)

    notification.refresh_from_db()
    assert notification.status == target
    [event] = _events(notification, f"notification.{target}")
    assert event.customer_id == customer.pk
    assert event.occurred_at == WHEN


REFUSED = [
    (c, t)
    for c in N.values
    for t in (N.SENT, N.DELIVERED, N.READ, N.FAILED)
    if t != c and t not in NOTIFICATION_TRANSITIONS[c]
]


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_moves_change_nothing(customer: Customer, current: str, target: str) -> None:
    notification = _notification_in(N(current), customer)
    before = Notification.objects.values().get(pk=notification.pk)
    events_before = DomainEvent.objects.count()

    with pytest.raises(InvalidTransition) as info:
        _mark(notification, target)

    assert (info.value.current, info.value.target) == (current, target)
    assert Notification.objects.values().get(pk=notification.pk) == before
    assert DomainEvent.objects.count() == events_before


@pytest.mark.parametrize("status", [N.SENT, N.DELIVERED, N.READ, N.FAILED])
def test_a_repeated_status_is_a_no_op(customer: Customer, status: NotificationStatus) -> None:
    notification = _notification_in(status, customer)
    before = Notification.objects.values().get(pk=notification.pk)
    events_before = DomainEvent.objects.count()

    result = _mark(notification, status, WHEN)

    assert result.status == status
    assert Notification.objects.values().get(pk=notification.pk) == before
    assert DomainEvent.objects.count() == events_before


def test_str_and_admin_url(customer: Customer) -> None:
    notification = _queue(customer, "sms")

    assert (
        str(notification) == f"Notification #{notification.pk} (sms order_paid to +5511987654321)"
    )
    assert notification.get_absolute_url() == (
        f"/admin/notifications/notification/{notification.pk}/change/"
    )
