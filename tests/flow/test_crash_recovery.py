"""A crash between a provider call and recording its result is recoverable.

Each provider call has its row written first (the payment, the shipment, the notification), and
the call carries that row's reference as its idempotency key. A worker that dies after the provider
answered but before the answer was recorded leaves the row waiting; the delivery's retry calls the
provider again with the same key and gets the same payment, label or message back. Meanwhile the
provider's facts about the object (tracking before the label is recorded) wait in the inbox,
without using up their attempts, for longer than that recovery takes.

The crash is injected where a kill -9 would land: the provider has answered, the recording service
is never reached (bench/chaos.py does the same with real SIGKILLs).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Customer
from integrations.models import DomainEvent, SandboxWebhook, WebhookEvent
from integrations.webhooks.processing import not_ready_retry_delay, process_due_webhooks
from integrations.webhooks.standard import standard_webhooks_headers
from notifications import workflows as notify_workflows
from notifications.channels.sandbox.adapter import sandbox_message_id
from notifications.models import Notification, NotificationStatus
from notifications.subscribers import notify_customer
from orders.models import OrderStatus
from payments.models import Payment
from payments.providers.sandbox.adapter import _provider_id
from payments.subscribers import start_payment_for_order
from shipping.carriers.sandbox.adapter import sandbox_tracking_code
from shipping.models import Shipment, ShipmentStatus
from shipping.subscribers import ship_paid_order
from tests.factories import make_order, make_paid_payment


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except clause of ours catches it."""


def _crash(*args: Any, **kwargs: Any) -> None:
    raise WorkerKilled


def _event(type_: str, subject: Any) -> DomainEvent:
    return DomainEvent.objects.get(type=type_, subject_id=str(subject.pk))


def _receive_owed_webhooks(client: Client, endpoint: str) -> int:
    """POST every webhook the sandbox owes ``endpoint`` to our receiver, as its sender would."""
    rows = list(SandboxWebhook.objects.filter(endpoint=endpoint, status="pending"))
    for row in rows:
        headers = standard_webhooks_headers(
            secret=settings.SANDBOX_WEBHOOK_SECRET,
            msg_id=row.msg_id,
            body=row.body,
            at=datetime.now(tz=UTC),
        )
        response = client.post(
            f"/webhooks/{endpoint}/",
            data=row.body,
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 200, response.content
    SandboxWebhook.objects.filter(pk__in=[r.pk for r in rows]).update(status="sent")
    return len(rows)


def _make_due(**fields: Any) -> None:
    WebhookEvent.objects.exclude(status__in=["processed", "ignored"]).update(
        next_attempt_at=timezone.now(), **fields
    )


@pytest.fixture
def owed(settings: Any) -> Any:
    """The sandbox records the webhooks it owes (they are not sent: the test transaction never
    commits); the receiver checks them against the test secret."""
    settings.SANDBOX_SEND_WEBHOOKS = True
    return settings


def test_a_label_bought_then_lost_is_bought_back_and_its_early_tracking_waits(
    customer: Customer, owed: Any, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = make_paid_payment(order=make_order(customer=customer)).order
    paid = _event("order.paid", order)

    monkeypatch.setattr("shipping.workflows.shipment_purchase_label", _crash)
    with pytest.raises(WorkerKilled):
        ship_paid_order(paid)
    monkeypatch.undo()
    shipment = Shipment.objects.get(order=order)
    assert shipment.status == ShipmentStatus.PENDING  # the attempt row, written before the call
    assert shipment.tracking_code == ""

    # The carrier already sent its tracking facts; they beat the label we never recorded.
    assert _receive_owed_webhooks(client, "sandbox-shipping") == 4
    process_due_webhooks(limit=50)
    waiting = WebhookEvent.objects.filter(provider="sandbox-shipping")
    assert set(waiting.values_list("status", flat=True)) == {WebhookEvent.Status.FAILED}

    # Far longer than 8 tries in 32 s, and longer than a delivery's claim timeout (after which
    # the sweeper hands the crashed delivery back): the facts are still waiting, attempts intact.
    for _ in range(12):
        _make_due(received_at=timezone.now() - timedelta(seconds=2 * 300))
        process_due_webhooks(limit=50)
    assert set(waiting.values_list("status", flat=True)) == {WebhookEvent.Status.FAILED}
    assert set(waiting.values_list("attempts", flat=True)) == {0}

    # The delivery's retry: the carrier gives the same label back for the same reference.
    ship_paid_order(paid)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert shipment.tracking_code == sandbox_tracking_code(f"shipment:{shipment.pk}")
    assert Shipment.objects.filter(order=order).count() == 1

    _make_due()
    process_due_webhooks(limit=50)
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert order.status == OrderStatus.DELIVERED


def test_a_fact_whose_object_never_comes_is_dead_only_after_the_give_up_time(
    customer: Customer, owed: Any, client: Client, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    order = make_paid_payment(order=make_order(customer=customer)).order
    monkeypatch.setattr("shipping.workflows.shipment_purchase_label", _crash)
    with pytest.raises(WorkerKilled):
        ship_paid_order(_event("order.paid", order))
    monkeypatch.undo()
    _receive_owed_webhooks(client, "sandbox-shipping")

    _make_due(
        received_at=timezone.now()
        - timedelta(seconds=settings.WEBHOOK_NOT_READY_GIVE_UP_SECONDS - 60)
    )
    process_due_webhooks(limit=50)
    events = WebhookEvent.objects.filter(provider="sandbox-shipping")
    assert set(events.values_list("status", flat=True)) == {WebhookEvent.Status.FAILED}

    _make_due(
        received_at=timezone.now()
        - timedelta(seconds=settings.WEBHOOK_NOT_READY_GIVE_UP_SECONDS + 1)
    )
    process_due_webhooks(limit=50)
    assert set(events.values_list("status", flat=True)) == {WebhookEvent.Status.DEAD}


def test_the_not_ready_wait_outlasts_crash_recovery_by_default(settings: Any) -> None:
    """Recovery of a crashed provider call takes a delivery claim timeout plus a retry."""
    recovery = settings.DELIVERY_CLAIM_TIMEOUT_SECONDS + 2 * 60  # two sweeper periods
    assert 10 * recovery < settings.WEBHOOK_NOT_READY_GIVE_UP_SECONDS
    # Quick at first (the other write is usually just committing), never more than a minute.
    assert not_ready_retry_delay(0) == 0.5
    assert not_ready_retry_delay(20) == 5
    assert not_ready_retry_delay(10_000) == settings.WEBHOOK_NOT_READY_MAX_SECONDS <= 60


def test_a_payment_created_then_lost_is_created_again_with_the_same_provider_id(
    customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = make_order(customer=customer)
    placed = _event("order.placed", order)

    monkeypatch.setattr("payments.workflows.payment_attach_provider_id", _crash)
    with pytest.raises(WorkerKilled):
        start_payment_for_order(placed)
    monkeypatch.undo()
    payment = Payment.objects.get(order=order)
    assert payment.provider_payment_id == ""  # the attempt row, its reference the idempotency key

    start_payment_for_order(placed)
    payment.refresh_from_db()
    assert payment.provider_payment_id == _provider_id("sbx_pay", f"payment:{payment.pk}")
    assert Payment.objects.filter(order=order).count() == 1


def test_a_message_sent_then_lost_is_sent_again_under_the_same_provider_id(
    customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = make_paid_payment(order=make_order(customer=customer)).order
    paid = _event("order.paid", order)
    real_mark_sent = notify_workflows.notification_mark_sent

    def crash_after_whatsapp_answered(*, notification: Notification, **kwargs: Any) -> Any:
        if notification.channel == "whatsapp":
            raise WorkerKilled
        return real_mark_sent(notification=notification, **kwargs)

    monkeypatch.setattr(notify_workflows, "notification_mark_sent", crash_after_whatsapp_answered)
    with pytest.raises(WorkerKilled):
        notify_customer(paid)
    monkeypatch.undo()
    whatsapp = Notification.objects.get(customer=customer, channel="whatsapp")
    assert whatsapp.status == NotificationStatus.QUEUED  # the attempt row, written before the call

    notify_customer(paid)
    whatsapp.refresh_from_db()
    assert whatsapp.status == NotificationStatus.SENT
    assert whatsapp.provider_message_id == sandbox_message_id(f"notification:{whatsapp.pk}")
    assert Notification.objects.filter(customer=customer, channel="whatsapp").count() == 1
    assert not Notification.objects.filter(customer=customer, channel="email").exists()
