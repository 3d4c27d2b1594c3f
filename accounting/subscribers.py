"""The journal's reactions to committed money events (run as Delivery rows, retried on failure).

Each is one call to a posting service (``accounting.postings``), idempotent by the entry's
unique source: a redelivery posts nothing twice. Facts that come without an event (a fee
reported later, a payout imported as paid) are posted by the hourly sweep
(``accounting.tasks.journal_sweep``)."""

from __future__ import annotations

from accounting.postings import (
    journal_post_dispute,
    journal_post_payment,
    journal_post_reconciliation,
    journal_post_refund,
)
from integrations.deliveries.registry import Subscriber
from integrations.models import DomainEvent


def post_payment_to_journal(event: DomainEvent) -> None:
    """payment.succeeded -> its charge (and fee and split, when known) in the journal."""
    journal_post_payment(payment_id=event.subject_id)


def post_refund_to_journal(event: DomainEvent) -> None:
    """refund.succeeded -> the refund in the journal."""
    journal_post_refund(refund_id=event.subject_id)


def post_dispute_to_journal(event: DomainEvent) -> None:
    """dispute.opened/won/lost/closed -> the chargeback, and its reversal once won."""
    journal_post_dispute(dispute_id=event.subject_id)


def post_write_off_to_journal(event: DomainEvent) -> None:
    """reconciliation.exception_resolved -> a write-off in the journal (other resolutions: none)."""
    journal_post_reconciliation(exception_id=event.subject_id)


SUBSCRIBERS = [
    Subscriber(
        name="accounting.post_payment",
        event_types=frozenset({"payment.succeeded"}),
        handle=post_payment_to_journal,
    ),
    Subscriber(
        name="accounting.post_refund",
        event_types=frozenset({"refund.succeeded"}),
        handle=post_refund_to_journal,
    ),
    Subscriber(
        name="accounting.post_dispute",
        event_types=frozenset({"dispute.opened", "dispute.won", "dispute.lost", "dispute.closed"}),
        handle=post_dispute_to_journal,
    ),
    Subscriber(
        name="accounting.post_write_off",
        event_types=frozenset({"reconciliation.exception_resolved"}),
        handle=post_write_off_to_journal,
    ),
]
