from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Customer
from integrations.models import DomainEvent
from notifications.exceptions import NotificationNotAllowed
from notifications.models import Notification
from notifications.services import notification_mark_sent, notification_queue


def _queue(customer: Customer, key: str, body: str = "Your order is paid.") -> Notification:
    return notification_queue(
        customer=customer, channel="email", template="order_paid", body=body, dedupe_key=key
    )


def _queued_events() -> int:
    return DomainEvent.objects.filter(type="notification.queued").count()


def test_a_repeated_key_returns_the_first_notification(customer: Customer) -> None:
    first = _queue(customer, "41:email")
    sent = notification_mark_sent(notification=first, provider="email", provider_message_id="<a@b>")

    again = _queue(customer, "41:email", body="Something else")

    assert again.pk == first.pk
    assert again.status == sent.status
    assert again.body == "Your order is paid."
    assert Notification.objects.count() == 1
    assert _queued_events() == 1


def test_different_keys_and_blank_keys_queue_separately(customer: Customer) -> None:
    _queue(customer, "41:email")
    _queue(customer, "41:whatsapp")
    _queue(customer, "")
    _queue(customer, "")

    assert Notification.objects.count() == 4
    assert _queued_events() == 4
    assert Notification.objects.filter(dedupe_key="").count() == 2


def test_a_key_too_long_is_refused(customer: Customer) -> None:
    with pytest.raises(NotificationNotAllowed, match="100"):
        _queue(customer, "x" * 101)

    assert not Notification.objects.exists()


def test_a_racing_insert_of_the_same_key_returns_the_winner(
    customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications import services

    real_clean = services._clean_recipient
    winner: list[Notification] = []

    def racer_inserts_meanwhile(**kwargs: Any) -> str:
        # Another worker commits the same key between our look-up and our insert.
        winner.append(
            Notification.objects.create(
                customer=customer,
                channel="email",
                template="order_paid",
                recipient=customer.email,
                body="From the other worker",
                dedupe_key="41:email",
            )
        )
        return real_clean(**kwargs)

    monkeypatch.setattr(services, "_clean_recipient", racer_inserts_meanwhile)

    result = _queue(customer, "41:email")

    assert result.pk == winner[0].pk
    assert result.body == "From the other worker"
    assert Notification.objects.count() == 1
    assert _queued_events() == 0  # our event rolled back with our insert
