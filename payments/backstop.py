"""The payment status backstop: a lost webhook never leaves a payment pending for good.

Every few minutes (``payments.tasks.backstop``) the payments still pending or processing
``PAYMENT_BACKSTOP_AFTER_SECONDS`` after they were created are fetched again from their provider,
and its answer is applied as a fact through the same services and rules as a webhook's: amount and
currency checked against our record (a mismatch goes on the reconciliation list and nothing is
applied), then the allowed transitions and the payment's watermark (a fact the payment has moved
past is a no-op).

Which ``occurred_at``: the provider's answer describes the payment as of some instant between our
request and its response. We pass the moment the request was sent. Every provider fact dated
before it is already reflected in the answer, so the watermark rightly refuses a late webhook that
carries one; a fact dated after it may be news and is still accepted (and the transitions map
keeps it from moving the payment backwards). Dating it when the answer arrived would refuse facts
that happened during the call. ``succeeded_at`` is then when we learned of it, not when the
provider took the money: ``ProviderPayment`` does not say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from integrations.exceptions import InvalidTransition, ProviderRejected, ProviderUnavailable
from integrations.facts import AmountMismatch, check_amount
from payments.disputes import reconciliation_flag
from payments.models import Payment, PaymentStatus, ReconciliationException
from payments.providers import get_payment_provider
from payments.providers.base import ProviderPayment
from payments.services import (
    payment_cancel,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
)

log = structlog.get_logger(__name__)

OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
FAILURE_REASON = "declined"
"""ProviderPayment carries no reason; the same word a webhook without one gets."""


@dataclass
class BackstopResult:
    """What one run did, one count per payment it selected."""

    selected: int = 0
    applied: int = 0
    """The provider's answer moved the payment (succeeded, failed, processing, cancelled)."""
    unchanged: int = 0
    """The provider says what we already have (or still pending)."""
    superseded: int = 0
    """The services refused the fact (a newer fact or a final status is already there)."""
    mismatched: int = 0
    """Amount or currency disagree: on the reconciliation list, nothing applied."""
    unavailable: int = 0
    """ProviderUnavailable or CircuitOpen: asked again after the recheck interval."""
    rejected: int = 0
    """ProviderRejected, e.g. the provider does not know the id."""
    errors: int = 0
    """Anything else, logged with its traceback."""
    skipped: int = 0
    """Taken by a concurrent run, settled meanwhile, or left for the next run (time budget)."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def payments_backstop_due(*, now: datetime) -> list[Payment]:
    """Open payments with a provider id, older than PAYMENT_BACKSTOP_AFTER_SECONDS and not asked
    about within PAYMENT_BACKSTOP_RECHECK_SECONDS; never asked first, then least recently asked
    (oldest first within each), at most PAYMENT_BACKSTOP_BATCH.

    Least recently asked first, not simply oldest first: payments that stay pending for good
    (an unpaid boleto or Pix) would otherwise fill every batch and starve the rest."""
    created_before = now - timedelta(seconds=settings.PAYMENT_BACKSTOP_AFTER_SECONDS)
    checked_before = now - timedelta(seconds=settings.PAYMENT_BACKSTOP_RECHECK_SECONDS)
    return list(
        Payment.objects.filter(status__in=OPEN_STATUSES, created_at__lt=created_before)
        .exclude(provider_payment_id="")
        .filter(Q(provider_checked_at__isnull=True) | Q(provider_checked_at__lt=checked_before))
        .order_by(F("provider_checked_at").asc(nulls_first=True), "created_at", "id")
        .only("id", "provider", "provider_payment_id", "status", "provider_checked_at")[
            : settings.PAYMENT_BACKSTOP_BATCH
        ]
    )


def payments_backstop_pending(*, now: datetime | None = None) -> BackstopResult:
    """Fetch the due payments (``payments_backstop_due``) from their providers, one at a time and
    outside any transaction, and apply each answer as a fact (see the module docstring).

    Idempotent and safe to run concurrently: each payment is claimed by stamping
    ``provider_checked_at`` with a conditional update before its provider is asked, so two runs
    never ask about the same payment, and one whose provider failed or whose run died is asked
    again only after the recheck interval. A failure on one payment (provider down, unknown id,
    anything unexpected) is logged and counted and never stops the batch. Starts no new fetch
    after PAYMENT_BACKSTOP_SECONDS. ``now`` (default: the current time) picks the due payments
    and dates the claims and facts."""
    started = now or timezone.now()
    deadline = time.monotonic() + settings.PAYMENT_BACKSTOP_SECONDS
    result = BackstopResult()
    for payment in payments_backstop_due(now=started):
        result.selected += 1
        if time.monotonic() >= deadline:
            result.skipped += 1
            continue
        asked_at = now or timezone.now()
        if not _claim(payment, asked_at):
            result.skipped += 1
            continue
        try:
            outcome = _check(payment, asked_at)
        except ProviderUnavailable as exc:  # CircuitOpen too
            outcome = "unavailable"
            _log_provider_error(payment, exc)
        except ProviderRejected as exc:
            outcome = "rejected"
            _log_provider_error(payment, exc)
        except Exception:  # boundary: one payment's surprise must not stop the batch
            outcome = "errors"
            log.exception(
                "payment.backstop_error", payment_id=payment.pk, provider=payment.provider
            )
        setattr(result, outcome, getattr(result, outcome) + 1)
    if result.selected:
        log.info("payment.backstop_done", **result.as_dict())
    return result


def _claim(payment: Payment, at: datetime) -> bool:
    """Stamp ``provider_checked_at`` unless another run did since we selected the payment, or it
    is no longer open."""
    claimed = Payment.objects.filter(
        pk=payment.pk,
        status__in=OPEN_STATUSES,
        provider_checked_at=payment.provider_checked_at,
    ).update(provider_checked_at=at)
    return claimed == 1


def _check(payment: Payment, asked_at: datetime) -> str:
    """Ask the provider and apply its answer; returns the BackstopResult field to count."""
    answer = get_payment_provider(payment.provider).retrieve(
        provider_payment_id=payment.provider_payment_id
    )
    payment = Payment.objects.select_related("order__customer").get(pk=payment.pk)
    context = {
        "payment_id": payment.pk,
        "provider": payment.provider,
        "provider_payment_id": payment.provider_payment_id,
        "status": payment.status,
        "provider_status": answer.status,
    }
    try:
        check_amount(payment, {"amount": answer.amount, "currency": answer.currency})
    except AmountMismatch as exc:
        _flag_mismatch(payment, exc)
        log.warning("payment.backstop_mismatch", detail=str(exc), **context)
        return "mismatched"
    action = _action(payment, answer, asked_at)
    if action is None:
        log.info("payment.backstop_unchanged", **context)
        return "unchanged"
    try:
        action()
    except InvalidTransition as exc:
        log.info("payment.backstop_superseded", detail=str(exc), **context)
        return "superseded"
    # The provider knew something no webhook told us (lost, or very late): worth a look.
    log.warning("payment.backstop_applied", **context)
    return "applied"


def _action(payment: Payment, answer: ProviderPayment, at: datetime) -> Callable[[], Any] | None:
    """The service call that applies the provider's status, or None when there is nothing to
    apply (still pending, or the status we already have)."""
    if answer.status == payment.status:
        return None
    actions: dict[str, Callable[[], Any]] = {
        PaymentStatus.PROCESSING: lambda: payment_mark_processing(payment=payment, occurred_at=at),
        PaymentStatus.SUCCEEDED: lambda: payment_mark_succeeded(payment=payment, occurred_at=at),
        PaymentStatus.FAILED: lambda: payment_mark_failed(
            payment=payment, reason=FAILURE_REASON, occurred_at=at
        ),
        PaymentStatus.CANCELLED: lambda: payment_cancel(payment=payment, occurred_at=at),
    }
    return actions.get(answer.status)


def _flag_mismatch(payment: Payment, exc: AmountMismatch) -> None:
    """On the reconciliation list once: while an amount mismatch is open for this payment, a
    later check (the payment stays open, so it is asked again) adds nothing."""
    already = ReconciliationException.objects.filter(
        payment=payment,
        kind=ReconciliationException.Kind.AMOUNT_MISMATCH,
        status=ReconciliationException.Status.OPEN,
    ).exists()
    if not already:
        reconciliation_flag(
            provider=payment.provider,
            kind=ReconciliationException.Kind.AMOUNT_MISMATCH,
            detail=str(exc),
            payment=payment,
            provider_object_id=payment.provider_payment_id,
        )


def _log_provider_error(payment: Payment, exc: ProviderUnavailable | ProviderRejected) -> None:
    log.warning(
        "payment.backstop_provider_error",
        payment_id=payment.pk,
        provider=payment.provider,
        provider_payment_id=payment.provider_payment_id,
        error=type(exc).__name__,
        detail=exc.detail,
        status_code=exc.status_code,
    )
