"""Payments, refunds, disputes, reconciliation exceptions and settlement lines in known numbers
for the finance dashboard (payments/finance_dashboard.py): its unit and browser tests check the
page against them. Rows are written directly (the dashboard reads rows; how they came to be is
the services' tests' business), dated with ``update`` since the models stamp ``auto_now_add``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from payments.models import (
    Dispute,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundReason,
    RefundStatus,
)
from payments.settlements.models import SettlementKind, SettlementLine
from tests.factories import OrderFactory, make_staff


@dataclass(frozen=True)
class FinanceDays:
    """The two days (UTC) the seeded facts fall on, as the page prints them."""

    first: str
    second: str


def _noon(now: datetime, days_ago: int) -> datetime:
    return (now - timedelta(days=days_ago)).replace(hour=12, minute=0, second=0, microsecond=0)


def _payments(order_id: int, plan: list[tuple[str, str, str, int, datetime]]) -> list[Payment]:
    created = Payment.objects.bulk_create(
        Payment(
            order_id=order_id,
            provider=provider,
            method=PaymentMethod.CARD,
            status=status,
            amount=amount,
            currency=currency,
        )
        for provider, status, currency, amount, _at in plan
    )
    for payment, (_p, status, _c, _a, at) in zip(created, plan, strict=True):
        succeeded_at = at if status == PaymentStatus.SUCCEEDED else None
        Payment.objects.filter(pk=payment.pk).update(created_at=at, succeeded_at=succeeded_at)
    return created


def seed_finance_figures(*, scale: int = 1, tag: str = "") -> FinanceDays:
    """Per ``scale``: stripe BRL 2 succeeded (100,00 + 50,50) and 1 failed on the first day; asaas
    BRL 200,00 and stripe USD 9.99 succeeded on the second; one stripe BRL 20,00 refund completed
    (and one still requested) on the second; disputes: stripe 2 on the first day, asaas 1 on the
    second; open exceptions: amount mismatch 1 h and 3 days old, over-payment 10 and 40 days old
    (and one resolved); settlement lines: stripe 3 (2 in a payout), asaas 1 (none). Plus facts
    older than 30 days, which the page leaves out."""
    now = timezone.now()
    first, second, old = _noon(now, 2), _noon(now, 1), _noon(now, 40)
    order = OrderFactory.create()
    staff = make_staff(f"finance-seeder{tag}")
    for round_ in range(scale):
        payments = _payments(
            order.pk,
            [
                ("stripe", PaymentStatus.SUCCEEDED, "BRL", 10_000, first),
                ("stripe", PaymentStatus.SUCCEEDED, "BRL", 5_050, first),
                ("stripe", PaymentStatus.FAILED, "BRL", 7_000, first),
                ("asaas", PaymentStatus.SUCCEEDED, "BRL", 20_000, second),
                ("stripe", PaymentStatus.SUCCEEDED, "USD", 999, second),
                ("stripe", PaymentStatus.SUCCEEDED, "BRL", 30_000, old),
                ("asaas", PaymentStatus.FAILED, "BRL", 30_000, old),
            ],
        )
        Refund.objects.bulk_create(
            Refund(
                payment=payments[0],
                amount=amount,
                currency="BRL",
                reason=RefundReason.REQUESTED_BY_CUSTOMER,
                status=status,
                requested_by=staff,
                completed_at=second if status == RefundStatus.SUCCEEDED else None,
            )
            for amount, status in ((2_000, RefundStatus.SUCCEEDED), (500, RefundStatus.REQUESTED))
        )
        Dispute.objects.bulk_create(
            Dispute(
                payment=payment,
                provider=payment.provider,
                provider_dispute_id=f"dp_{tag}{round_}_{index}",
                amount=payment.amount,
                currency=payment.currency,
                opened_at=at,
            )
            for index, (payment, at) in enumerate(
                [
                    (payments[0], first),
                    (payments[1], first),
                    (payments[3], second),
                    (payments[5], old),
                ]
            )
        )
        exceptions = ReconciliationException.objects.bulk_create(
            ReconciliationException(provider="stripe", kind=kind, detail="Seeded.", status=status)
            for kind, status in (
                (ReconciliationException.Kind.AMOUNT_MISMATCH, "open"),
                (ReconciliationException.Kind.AMOUNT_MISMATCH, "open"),
                (ReconciliationException.Kind.OVER_PAYMENT, "open"),
                (ReconciliationException.Kind.OVER_PAYMENT, "open"),
                (ReconciliationException.Kind.OVER_PAYMENT, "resolved"),
            )
        )
        ages = [timedelta(hours=1), timedelta(days=3), timedelta(days=10), timedelta(days=40)]
        for exception, age in zip(exceptions, [*ages, timedelta(days=2)], strict=True):
            ReconciliationException.objects.filter(pk=exception.pk).update(created_at=now - age)
        SettlementLine.objects.bulk_create(
            SettlementLine(
                provider=provider,
                provider_line_id=f"txn_{tag}{round_}_{index}",
                kind=SettlementKind.CHARGE,
                amount=1_000,
                fee=100,
                net=900,
                currency="BRL",
                payout_id=payout,
                created_at=first,
            )
            for index, (provider, payout) in enumerate(
                [("stripe", "po_1"), ("stripe", "po_1"), ("stripe", ""), ("asaas", "")]
            )
        )
    return FinanceDays(first=first.date().isoformat(), second=second.date().isoformat())
