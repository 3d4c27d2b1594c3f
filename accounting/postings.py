"""What each money movement posts (docs/accounting.md, "Entries"): one service per movement,
each reading its row by id and calling ``journal_post`` with the entry's fixed source key, so
posting again (a redelivered event, the backfill, the sweep) changes nothing.

Each returns the entry, or None when the fact is not there yet (a payment not succeeded, a fee
not reported, a payout not paid): the hourly sweep posts it once it is."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum

from accounting.chart import (
    BANK,
    CHARGEBACK_FEES,
    CHARGEBACKS,
    PROVIDER_CLEARING,
    PROVIDER_FEES,
    REFUNDS,
    REVENUE,
    SPLIT_PAYABLE,
)
from accounting.models import JournalEntry
from accounting.services import Line, credit, debit, journal_post, journal_post_write_off
from integrations.money import format_money
from payments.models import (
    Dispute,
    DisputeStatus,
    Payment,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.settlements.models import Payout, PayoutStatus, SettlementKind, SettlementLine
from payments.splits import payment_split_parts

Kind = JournalEntry.SourceKind


def _payment_time(payment: Payment) -> datetime:
    return payment.succeeded_at or payment.updated_at


def journal_post_charge(*, payment_id: int | str) -> JournalEntry | None:
    """A succeeded payment: Dr provider clearing, Cr revenue, its gross amount."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status != PaymentStatus.SUCCEEDED:
        return None
    money = format_money(payment.amount, payment.currency)
    entry, _ = journal_post(
        source_kind=Kind.CHARGE,
        source_key=str(payment.pk),
        occurred_at=_payment_time(payment),
        currency=payment.currency,
        lines=[
            debit(PROVIDER_CLEARING, payment.amount),
            credit(REVENUE, payment.amount, f"Order {payment.order.number}"),
        ],
        memo=f"Charge {money}, order {payment.order.number} ({payment.provider})",
        provider=payment.provider,
        provider_ref=payment.provider_payment_id,
    )
    return entry


def journal_post_fee(*, payment_id: int | str) -> JournalEntry | None:
    """The provider's fee on a succeeded payment, once it is known: Dr provider fees, Cr
    provider clearing (in the settlement currency)."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status != PaymentStatus.SUCCEEDED or not payment.fee_amount:
        return None
    currency = payment.settlement_currency or payment.currency
    entry, _ = journal_post(
        source_kind=Kind.FEE,
        source_key=str(payment.pk),
        occurred_at=_payment_time(payment),
        currency=currency,
        lines=[
            debit(PROVIDER_FEES, payment.fee_amount),
            credit(PROVIDER_CLEARING, payment.fee_amount),
        ],
        memo=f"Provider fee {format_money(payment.fee_amount, currency)}, order "
        f"{payment.order.number} ({payment.provider})",
        provider=payment.provider,
        provider_ref=payment.provider_payment_id,
    )
    return entry


def payment_split_amounts(payment: Payment) -> list[tuple[str, int]] | None:
    """Each split recipient's amount (minor units): fixed amounts as frozen on the payment,
    percentages of its net value (what Asaas applies them to), rounded half up. None while a
    percentage waits for the net value to be known."""
    amounts = []
    for part in payment_split_parts(payment):
        if part.fixed_amount is not None:
            amounts.append((part.wallet_id, part.fixed_amount))
        elif part.percent is not None:
            if payment.net_amount is None:
                return None
            share = Decimal(payment.net_amount) * part.percent / 100
            amounts.append((part.wallet_id, int(share.quantize(Decimal(1), ROUND_HALF_UP))))
    return amounts


def journal_post_split(*, payment_id: int | str) -> JournalEntry | None:
    """A succeeded payment's split: the recipients' shares are not our revenue (Dr revenue,
    Cr split payable per recipient) and the provider pays them out of our balance at once
    (Dr split payable, Cr provider clearing)."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status != PaymentStatus.SUCCEEDED or not payment.split:
        return None
    amounts = payment_split_amounts(payment)
    if not amounts:
        return None
    total = sum(amount for _, amount in amounts)
    lines: list[Line] = [debit(REVENUE, total, f"Order {payment.order.number}")]
    lines += [credit(SPLIT_PAYABLE, amount, f"Wallet {wallet}") for wallet, amount in amounts]
    lines += [debit(SPLIT_PAYABLE, amount, f"Wallet {wallet}") for wallet, amount in amounts]
    lines.append(credit(PROVIDER_CLEARING, total))
    entry, _ = journal_post(
        source_kind=Kind.SPLIT,
        source_key=str(payment.pk),
        occurred_at=_payment_time(payment),
        currency=payment.currency,
        lines=lines,
        memo=f"Split {format_money(total, payment.currency)} to {len(amounts)} recipient(s), "
        f"order {payment.order.number}",
        provider=payment.provider,
        provider_ref=payment.provider_payment_id,
    )
    return entry


def journal_post_payment(*, payment_id: int | str) -> list[JournalEntry]:
    """Everything a payment posts that is known now: charge, fee, split."""
    posted = [
        journal_post_charge(payment_id=payment_id),
        journal_post_fee(payment_id=payment_id),
        journal_post_split(payment_id=payment_id),
    ]
    return [entry for entry in posted if entry is not None]


def journal_post_refund(*, refund_id: int | str) -> JournalEntry | None:
    """A succeeded refund: Dr refunds (contra revenue), Cr provider clearing."""
    refund = Refund.objects.select_related("payment__order").get(pk=refund_id)
    if refund.status != RefundStatus.SUCCEEDED:
        return None
    entry, _ = journal_post(
        source_kind=Kind.REFUND,
        source_key=str(refund.pk),
        occurred_at=refund.completed_at or refund.updated_at,
        currency=refund.currency,
        lines=[
            debit(REFUNDS, refund.amount, f"Order {refund.payment.order.number}"),
            credit(PROVIDER_CLEARING, refund.amount),
        ],
        memo=f"Refund {format_money(refund.amount, refund.currency)}, order "
        f"{refund.payment.order.number} ({refund.payment.provider})",
        provider=refund.payment.provider,
        provider_ref=refund.provider_refund_id or refund.payment.provider_payment_id,
    )
    return entry


def dispute_fee(dispute: Dispute) -> int:
    """What the provider charged for the dispute, as its settlement lines say (Stripe's dispute
    balance transaction carries it; 0 while not imported or for providers without one)."""
    found = SettlementLine.objects.filter(
        provider=dispute.provider,
        source_id=dispute.provider_dispute_id,
        kind=SettlementKind.CHARGEBACK,
    ).aggregate(fee=Sum("fee"))["fee"]
    return int(found or 0)


def journal_post_chargeback(*, dispute_id: int | str) -> JournalEntry:
    """A dispute opened (or first seen lost): the provider takes the disputed amount back from
    the balance. Dr chargebacks, Cr provider clearing."""
    dispute = Dispute.objects.select_related("payment__order").get(pk=dispute_id)
    order = dispute.payment.order.number
    entry, _ = journal_post(
        source_kind=Kind.CHARGEBACK,
        source_key=str(dispute.pk),
        occurred_at=dispute.opened_at,
        currency=dispute.currency,
        lines=[
            debit(CHARGEBACKS, dispute.amount, f"Order {order}"),
            credit(PROVIDER_CLEARING, dispute.amount),
        ],
        memo=f"Chargeback {format_money(dispute.amount, dispute.currency)}, order {order} "
        f"({dispute.provider} {dispute.provider_dispute_id})",
        provider=dispute.provider,
        provider_ref=dispute.provider_dispute_id,
    )
    return entry


def journal_post_chargeback_fee(*, dispute_id: int | str) -> JournalEntry | None:
    """The provider's fee for a dispute, once its settlement line says it (Stripe's dispute
    balance transaction; usually imported a day after the dispute opened): Dr chargeback fees,
    Cr provider clearing. None while no fee is known."""
    dispute = Dispute.objects.select_related("payment__order").get(pk=dispute_id)
    fee = dispute_fee(dispute)
    if fee <= 0:
        return None
    entry, _ = journal_post(
        source_kind=Kind.CHARGEBACK_FEE,
        source_key=str(dispute.pk),
        occurred_at=dispute.opened_at,
        currency=dispute.currency,
        lines=[debit(CHARGEBACK_FEES, fee), credit(PROVIDER_CLEARING, fee)],
        memo=f"Chargeback fee {format_money(fee, dispute.currency)}, order "
        f"{dispute.payment.order.number} ({dispute.provider} {dispute.provider_dispute_id})",
        provider=dispute.provider,
        provider_ref=dispute.provider_dispute_id,
    )
    return entry


def journal_post_dispute(*, dispute_id: int | str) -> list[JournalEntry]:
    """A dispute's entries as its status says: the chargeback from the moment it is known, its
    fee once reported; won (or closed without a loss) reverses the chargeback line for line
    (the fee stays: the provider keeps it)."""
    chargeback = journal_post_chargeback(dispute_id=dispute_id)
    fee = journal_post_chargeback_fee(dispute_id=dispute_id)
    posted = [chargeback] if fee is None else [chargeback, fee]
    dispute = Dispute.objects.get(pk=dispute_id)
    if dispute.status not in (DisputeStatus.WON, DisputeStatus.CLOSED):
        return posted
    reversal, _ = journal_post(
        source_kind=Kind.CHARGEBACK_REVERSAL,
        source_key=str(dispute.pk),
        occurred_at=max(dispute.closed_at or dispute.updated_at, chargeback.occurred_at),
        currency=chargeback.currency,
        lines=[
            Line(line.account_role, line.credit - line.debit, line.memo)
            for line in chargeback.lines.all()
        ],
        memo=f"Chargeback reversal ({dispute.status}), {dispute.provider} "
        f"{dispute.provider_dispute_id}",
        provider=dispute.provider,
        provider_ref=dispute.provider_dispute_id,
        reverses=chargeback,
    )
    return [*posted, reversal]


def journal_post_payout(*, payout_id: int | str) -> JournalEntry | None:
    """A paid payout: the bank receives its amount out of the provider's balance. Dr bank,
    Cr provider clearing."""
    payout = Payout.objects.get(pk=payout_id)
    if payout.status != PayoutStatus.PAID:
        return None
    arrived = (
        datetime.combine(payout.arrival_date, time.min, tzinfo=UTC)
        if payout.arrival_date
        else payout.created_at
    )
    entry, _ = journal_post(
        source_kind=Kind.PAYOUT,
        source_key=f"{payout.provider}:{payout.provider_payout_id}",
        occurred_at=arrived,
        currency=payout.currency,
        lines=[debit(BANK, payout.amount), credit(PROVIDER_CLEARING, payout.amount)],
        memo=f"Payout {format_money(payout.amount, payout.currency)} to the bank "
        f"({payout.provider} {payout.provider_payout_id})",
        provider=payout.provider,
        provider_ref=payout.provider_payout_id,
    )
    return entry


def journal_post_reconciliation(*, exception_id: int | str) -> JournalEntry | None:
    """A reconciliation exception resolved as a write-off: its amount to the chosen account
    (``journal_post_write_off``). Other resolutions move no money here (a manual match pairs
    facts already posted; a refund due posts when the refund succeeds): None."""
    exception = ReconciliationException.objects.get(pk=exception_id)
    resolved = exception.status == ReconciliationException.Status.RESOLVED
    if not resolved or exception.resolution != ReconciliationException.Resolution.WRITE_OFF:
        return None
    if not exception.write_off_amount:
        return None
    entry, _ = journal_post_write_off(
        exception_id=exception.pk,
        account=exception.write_off_account,
        amount=exception.write_off_amount,
        currency=exception.currency,
        provider=exception.provider,
        occurred_at=exception.resolved_at or exception.created_at,
    )
    return entry
