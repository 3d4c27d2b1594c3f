"""Reactions of payments to other apps' events (run as Delivery rows, retried on failure).

Each is one call to a workflow (``payments.workflows``, ``payments.finance_notices``), which is
idempotent: a redelivery of the same event continues where the last attempt stopped and never
charges, refunds or writes twice.
"""

from __future__ import annotations

from integrations.deliveries.registry import Subscriber
from integrations.events import render_summary
from integrations.models import DomainEvent
from payments.finance_notices import (
    dispute_notify_finance,
    reconciliation_notify_finance,
    refund_notify_requester,
)
from payments.staff_alerts import dispute_alert_staff, reconciliation_alert_staff
from payments.workflows import (
    order_payments_cancel,
    payment_fetch_money_facts,
    payment_handle_expired,
    payment_start_for_order,
    refund_execute,
)


def start_payment_for_order(event: DomainEvent) -> None:
    """order.placed -> a payment at the provider (``payment_start_for_order``)."""
    payment_start_for_order(order_id=event.subject_id)


def record_money_facts_of_payment(event: DomainEvent) -> None:
    """payment.succeeded -> its fee, net, authorised and captured amounts from the provider."""
    payment_fetch_money_facts(payment_id=event.subject_id)


def handle_expired_payment(event: DomainEvent) -> None:
    """payment.expired -> cancel the charge, then the event's ``order_action``."""
    payment_handle_expired(
        payment_id=event.subject_id, order_action=str(event.data.get("order_action", ""))
    )


def cancel_payments_of_cancelled_order(event: DomainEvent) -> None:
    """order.cancelled -> each open payment of the order cancelled at its provider and here."""
    order_payments_cancel(order_id=event.subject_id)


def execute_approved_refund(event: DomainEvent) -> None:
    """refund.approved -> the provider refund (``refund_execute``)."""
    refund_execute(refund_id=event.subject_id)


def notify_finance_of_dispute(event: DomainEvent) -> None:
    """dispute.opened -> one e-mail to the finance group."""
    dispute_notify_finance(dispute_id=event.subject_id, summary=render_summary(event))


def notify_finance_of_reconciliation(event: DomainEvent) -> None:
    """reconciliation.flagged -> one e-mail to the finance group for the kinds that are news."""
    reconciliation_notify_finance(exception_id=event.data.get("exception"))


def alert_staff_of_dispute(event: DomainEvent) -> None:
    """dispute.opened -> finance's staff alert (Slack), once per dispute."""
    dispute_alert_staff(dispute_id=event.subject_id)


def alert_staff_of_reconciliation(event: DomainEvent) -> None:
    """reconciliation.flagged -> finance's staff alert (Slack) for the kinds that are news."""
    reconciliation_alert_staff(exception_id=event.data.get("exception"))


def notify_requester_of_refund_decision(event: DomainEvent) -> None:
    """refund.approved, refund.rejected -> one e-mail to the staff user who requested it."""
    refund_notify_requester(refund_id=event.subject_id, event_id=event.pk, event_type=event.type)


SUBSCRIBERS = [
    Subscriber(
        name="payments.start_payment",
        event_types=frozenset({"order.placed"}),
        handle=start_payment_for_order,
        atomic=False,  # calls the provider: no transaction (lock) held meanwhile
    ),
    Subscriber(
        name="payments.record_money_facts",
        event_types=frozenset({"payment.succeeded"}),
        handle=record_money_facts_of_payment,
        atomic=False,  # calls the provider
    ),
    Subscriber(
        name="payments.handle_expired_payment",
        event_types=frozenset({"payment.expired"}),
        handle=handle_expired_payment,
        atomic=False,
    ),
    Subscriber(
        name="payments.execute_refund",
        event_types=frozenset({"refund.approved"}),
        handle=execute_approved_refund,
        atomic=False,
    ),
    Subscriber(
        name="payments.cancel_payments_of_cancelled_order",
        event_types=frozenset({"order.cancelled"}),
        handle=cancel_payments_of_cancelled_order,
        atomic=False,
    ),
    Subscriber(
        name="payments.notify_finance_of_dispute",
        event_types=frozenset({"dispute.opened"}),
        handle=notify_finance_of_dispute,
    ),
    Subscriber(
        name="payments.notify_finance_of_reconciliation",
        event_types=frozenset({"reconciliation.flagged"}),
        handle=notify_finance_of_reconciliation,
    ),
    Subscriber(
        name="payments.alert_staff_of_dispute",
        event_types=frozenset({"dispute.opened"}),
        handle=alert_staff_of_dispute,
        atomic=False,
    ),
    Subscriber(
        name="payments.alert_staff_of_reconciliation",
        event_types=frozenset({"reconciliation.flagged"}),
        handle=alert_staff_of_reconciliation,
        atomic=False,
    ),
    Subscriber(
        name="payments.notify_requester_of_refund_decision",
        event_types=frozenset({"refund.approved", "refund.rejected"}),
        handle=notify_requester_of_refund_decision,
    ),
]
