"""Posting every money fact that has no entry yet (``manage.py journal_backfill`` and the hourly
sweep). Each fact posts once, by its entry's unique source: running it again posts nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from accounting.models import JournalEntry
from accounting.postings import (
    journal_post_dispute,
    journal_post_payment,
    journal_post_payout,
    journal_post_refund,
)
from payments.models import Dispute, DisputeStatus, Payment, PaymentStatus, Refund, RefundStatus
from payments.settlements.models import Payout, PayoutStatus, SettlementKind, SettlementLine

Kind = JournalEntry.SourceKind
Progress = Callable[[int, int], None]


def _has(kind: str, key: object) -> Exists:
    return Exists(JournalEntry.objects.filter(source_kind=kind, source_key=key))


def _pk_key() -> Cast:
    return Cast(OuterRef("pk"), output_field=CharField())


def unposted_payments() -> QuerySet[Payment]:
    key = _pk_key()
    return Payment.objects.filter(status=PaymentStatus.SUCCEEDED).filter(
        ~_has(Kind.CHARGE, key)
        | (Q(fee_amount__gt=0) & ~_has(Kind.FEE, key))
        | (~Q(split=[]) & ~_has(Kind.SPLIT, key))
    )


def unposted_refunds() -> QuerySet[Refund]:
    return Refund.objects.filter(status=RefundStatus.SUCCEEDED).filter(
        ~_has(Kind.REFUND, _pk_key())
    )


def unposted_disputes() -> QuerySet[Dispute]:
    key = _pk_key()
    fee_known = Exists(
        SettlementLine.objects.filter(
            provider=OuterRef("provider"),
            source_id=OuterRef("provider_dispute_id"),
            kind=SettlementKind.CHARGEBACK,
            fee__gt=0,
        )
    )
    return Dispute.objects.filter(
        ~_has(Kind.CHARGEBACK, key)
        | (fee_known & ~_has(Kind.CHARGEBACK_FEE, key))
        | (
            Q(status__in=[DisputeStatus.WON, DisputeStatus.CLOSED])
            & ~_has(Kind.CHARGEBACK_REVERSAL, key)
        )
    )


def unposted_payouts() -> QuerySet[Payout]:
    key = Concat(OuterRef("provider"), Value(":"), OuterRef("provider_payout_id"))
    return Payout.objects.filter(status=PayoutStatus.PAID).filter(~_has(Kind.PAYOUT, key))


@dataclass
class BackfillResult:
    facts: dict[str, int] = field(default_factory=dict)
    """Facts looked at per kind (each had something unposted)."""
    posted: int = 0
    """Entries written."""


def _ids(queryset: QuerySet[Any]) -> list[int]:
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def journal_backfill(*, progress: Progress | None = None) -> BackfillResult:
    """Post what every succeeded payment, succeeded refund, dispute and paid payout should have
    posted and has not. ``progress(done, total)`` is called after each fact."""
    before = JournalEntry.objects.count()
    work: list[tuple[str, list[int], Callable[[int], object]]] = [
        ("payments", _ids(unposted_payments()), lambda pk: journal_post_payment(payment_id=pk)),
        ("refunds", _ids(unposted_refunds()), lambda pk: journal_post_refund(refund_id=pk)),
        ("disputes", _ids(unposted_disputes()), lambda pk: journal_post_dispute(dispute_id=pk)),
        ("payouts", _ids(unposted_payouts()), lambda pk: journal_post_payout(payout_id=pk)),
    ]
    total = sum(len(ids) for _, ids, _ in work)
    result = BackfillResult()
    done = 0
    for name, ids, post in work:
        result.facts[name] = len(ids)
        for pk in ids:
            post(pk)
            done += 1
            if progress is not None:
                progress(done, total)
    result.posted = JournalEntry.objects.count() - before
    return result
