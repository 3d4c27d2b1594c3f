"""The payment status backstop: payments pending too long are fetched from their provider (here
the sandbox, answering from durable state) and its answer applied like a webhook's fact."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_q.models import Schedule

from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import SandboxWebhook, WebhookEvent
from integrations.webhooks.standard import standard_webhooks_headers
from orders.models import OrderStatus
from payments import backstop as backstop_module
from payments.backstop import payments_backstop_due, payments_backstop_pending
from payments.models import Payment, PaymentMethod, PaymentStatus, ReconciliationException
from payments.providers.base import ProviderPayment
from payments.providers.sandbox.adapter import SandboxPaymentProvider
from payments.services import payment_mark_processing
from payments.tasks import backstop
from tests.factories import make_order
from tests.support.backstop import age, start_payment, types_of

pytestmark = pytest.mark.django_db

Answer = ProviderPayment | Exception


class Retrieves:
    """The sandbox's ``retrieve`` calls, by provider id; ``script`` overrides an id's answer (a
    ProviderPayment, or an exception to raise) for the cases the sandbox cannot produce."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.script: dict[str, Answer | Callable[[ProviderPayment], Answer]] = {}


@pytest.fixture
def retrieves(monkeypatch: pytest.MonkeyPatch) -> Retrieves:
    calls = Retrieves()
    original = SandboxPaymentProvider.retrieve

    def retrieve(self: SandboxPaymentProvider, *, provider_payment_id: str) -> ProviderPayment:
        calls.ids.append(provider_payment_id)
        scripted = calls.script.get(provider_payment_id)
        if callable(scripted):
            scripted = scripted(original(self, provider_payment_id=provider_payment_id))
        if isinstance(scripted, Exception):
            raise scripted
        return scripted or original(self, provider_payment_id=provider_payment_id)

    monkeypatch.setattr(SandboxPaymentProvider, "retrieve", retrieve)
    return calls


@pytest.fixture
def owed(settings: Any) -> Any:
    """The sandbox records the webhooks it owes as rows; nothing sends them (they are "lost")
    until a test delivers them itself."""
    settings.SANDBOX_SEND_WEBHOOKS = True
    return settings


def _sandbox_payment(
    amount: int = 10_000, method: str = PaymentMethod.CARD, minutes: float = 20
) -> Payment:
    return age(start_payment(make_order(amount=amount, payment_method=method)), minutes=minutes)


def _answer(payment: Payment, status: str, **changes: Any) -> ProviderPayment:
    return ProviderPayment(
        provider_payment_id=payment.provider_payment_id,
        status=status,
        amount=changes.get("amount", payment.amount),
        currency=changes.get("currency", payment.currency),
    )


def _post_webhook(client: Any, capture: Any, msg_id: str, body: str) -> None:
    headers = standard_webhooks_headers(
        secret=django_settings.SANDBOX_WEBHOOK_SECRET,
        msg_id=msg_id,
        body=body,
        at=datetime.now(tz=UTC),
    )
    with capture(execute=True):
        response = client.post(
            "/webhooks/sandbox-payments/",
            data=body,
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == 200, response.content


def _fact(payment: Payment, type_: str, at: datetime, **extra: Any) -> tuple[str, str]:
    data = {
        "id": payment.provider_payment_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "reference": f"payment:{payment.pk}",
        **extra,
    }
    body = json.dumps({"type": type_, "timestamp": at.isoformat(), "data": data})
    return f"msg_{uuid.uuid4().hex}", body


# --- the lost webhook ---------------------------------------------------------------------------


def test_a_payment_whose_succeeded_webhook_was_lost_ends_paid_once(
    owed: Any, client: Any, django_capture_on_commit_callbacks: Any, retrieves: Retrieves
) -> None:
    payment = _sandbox_payment()
    lost = list(SandboxWebhook.objects.filter(endpoint="sandbox-payments"))
    assert [json.loads(row.body)["type"] for row in lost] == ["payment.succeeded"]
    assert payment.status == PaymentStatus.PENDING

    result = payments_backstop_pending()

    assert result.selected == result.applied == 1
    assert retrieves.ids == [payment.provider_payment_id]
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.provider_checked_at is not None
    assert payment.order.status == OrderStatus.PAID
    assert types_of(payment) == ["payment.created", "payment.succeeded"]
    assert types_of(payment.order).count("order.paid") == 1

    # A second run finds nothing to do; the lost webhook arriving late after all is a no-op.
    assert payments_backstop_pending(now=timezone.now() + timedelta(hours=1)).selected == 0
    for row in lost:
        _post_webhook(client, django_capture_on_commit_callbacks, row.msg_id, row.body)
    assert WebhookEvent.objects.get(event_id=lost[0].msg_id).status == WebhookEvent.Status.PROCESSED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert types_of(payment) == ["payment.created", "payment.succeeded"]
    assert types_of(payment.order).count("order.paid") == 1
    assert retrieves.ids == [payment.provider_payment_id]


def test_a_declined_payment_whose_webhook_was_lost_ends_failed(retrieves: Retrieves) -> None:
    payment = _sandbox_payment(amount=10_013)

    result = payments_backstop_pending()

    assert result.applied == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_reason == "declined"
    assert payment.order.status == OrderStatus.PLACED
    assert types_of(payment) == ["payment.created", "payment.failed"]


def test_the_task_runs_the_backstop_and_returns_its_counts(retrieves: Retrieves) -> None:
    payment = _sandbox_payment()
    counts = backstop()
    assert counts["selected"] == counts["applied"] == 1
    assert counts["errors"] == counts["unavailable"] == 0
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_the_providers_pending_or_current_status_changes_nothing_but_the_check_time(
    retrieves: Retrieves,
) -> None:
    pending = _sandbox_payment()
    processing = _sandbox_payment(method=PaymentMethod.BOLETO)
    Payment.objects.filter(pk=processing.pk).update(status=PaymentStatus.PROCESSING)
    retrieves.script[pending.provider_payment_id] = _answer(pending, PaymentStatus.PENDING)
    retrieves.script[processing.provider_payment_id] = _answer(processing, PaymentStatus.PROCESSING)

    result = payments_backstop_pending()

    assert (result.selected, result.unchanged, result.applied) == (2, 2, 0)
    for payment, status in [(pending, "pending"), (processing, "processing")]:
        payment.refresh_from_db()
        assert payment.status == status
        assert payment.provider_checked_at is not None
        assert types_of(payment) == ["payment.created"]


# --- which payments are fetched -----------------------------------------------------------------


def test_a_payment_younger_than_the_setting_is_not_fetched(
    settings: Any, retrieves: Retrieves
) -> None:
    settings.PAYMENT_BACKSTOP_AFTER_SECONDS = 15 * 60
    young = _sandbox_payment(minutes=14)
    old = _sandbox_payment(minutes=16)

    result = payments_backstop_pending()

    assert result.selected == 1
    assert retrieves.ids == [old.provider_payment_id]
    young.refresh_from_db()
    assert young.status == PaymentStatus.PENDING
    assert young.provider_checked_at is None


def test_a_payment_without_a_provider_id_or_already_settled_is_not_fetched(
    retrieves: Retrieves,
) -> None:
    no_id = age(start_payment(make_order()))
    Payment.objects.filter(pk=no_id.pk).update(provider_payment_id="")
    settled = _sandbox_payment()
    Payment.objects.filter(pk=settled.pk).update(status=PaymentStatus.CANCELLED)

    assert payments_backstop_pending().selected == 0
    assert retrieves.ids == []


def test_a_payment_checked_recently_is_not_fetched_again(
    settings: Any, retrieves: Retrieves
) -> None:
    settings.PAYMENT_BACKSTOP_RECHECK_SECONDS = 10 * 60
    payment = _sandbox_payment()
    retrieves.script[payment.provider_payment_id] = _answer(payment, PaymentStatus.PENDING)
    assert payments_backstop_pending().unchanged == 1
    payment.refresh_from_db()
    checked_at = payment.provider_checked_at
    assert checked_at is not None

    for minutes in (1, 9):
        result = payments_backstop_pending(now=checked_at + timedelta(minutes=minutes))
        assert result.selected == 0
    assert retrieves.ids == [payment.provider_payment_id]
    payment.refresh_from_db()
    assert payment.provider_checked_at == checked_at

    later = checked_at + timedelta(minutes=11)
    assert payments_backstop_pending(now=later).unchanged == 1
    assert retrieves.ids == [payment.provider_payment_id] * 2
    payment.refresh_from_db()
    assert payment.provider_checked_at == later


def test_never_checked_payments_come_first_then_the_least_recently_checked(
    settings: Any, retrieves: Retrieves
) -> None:
    settings.PAYMENT_BACKSTOP_BATCH = 2
    now = timezone.now()
    oldest_checked_late = _sandbox_payment(minutes=300)
    oldest_checked_early = _sandbox_payment(minutes=200)
    never_young = _sandbox_payment(minutes=30)
    never_old = _sandbox_payment(minutes=40)
    Payment.objects.filter(pk=oldest_checked_late.pk).update(
        provider_checked_at=now - timedelta(minutes=20)
    )
    Payment.objects.filter(pk=oldest_checked_early.pk).update(
        provider_checked_at=now - timedelta(minutes=60)
    )

    assert [p.pk for p in payments_backstop_due(now=now)] == [never_old.pk, never_young.pk]
    settings.PAYMENT_BACKSTOP_BATCH = 10
    assert [p.pk for p in payments_backstop_due(now=now)] == [
        never_old.pk,
        never_young.pk,
        oldest_checked_early.pk,
        oldest_checked_late.pk,
    ]


def test_the_selection_takes_a_constant_number_of_queries(
    django_assert_max_num_queries: Any,
) -> None:
    for _ in range(3):
        _sandbox_payment()
    with django_assert_max_num_queries(1):
        assert len(payments_backstop_due(now=timezone.now())) == 3


def test_a_payment_another_run_claimed_meanwhile_is_not_fetched(
    monkeypatch: pytest.MonkeyPatch, retrieves: Retrieves
) -> None:
    payment = _sandbox_payment()
    snapshot = payments_backstop_due(now=timezone.now())
    Payment.objects.filter(pk=payment.pk).update(provider_checked_at=timezone.now())
    monkeypatch.setattr(backstop_module, "payments_backstop_due", lambda now: snapshot)

    result = payments_backstop_pending()

    assert (result.selected, result.skipped) == (1, 1)
    assert retrieves.ids == []


def test_past_its_time_budget_a_run_starts_no_new_fetch(
    settings: Any, retrieves: Retrieves
) -> None:
    settings.PAYMENT_BACKSTOP_SECONDS = 0
    payment = _sandbox_payment()

    result = payments_backstop_pending()

    assert (result.selected, result.skipped) == (1, 1)
    assert retrieves.ids == []
    payment.refresh_from_db()
    assert payment.provider_checked_at is None  # left for the next run


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "counted"),
    [
        (ProviderUnavailable("sandbox: 503", provider="sandbox", status_code=503), "unavailable"),
        (CircuitOpen("sandbox: circuit open", provider="sandbox"), "unavailable"),
        (ProviderRejected("sandbox: 404", provider="sandbox", status_code=404), "rejected"),
        (RuntimeError("a surprise"), "errors"),
    ],
)
def test_a_provider_failure_on_one_payment_leaves_it_pending_and_the_batch_goes_on(
    retrieves: Retrieves, error: Exception, counted: str
) -> None:
    down = _sandbox_payment(minutes=60)
    fine = _sandbox_payment(minutes=30)
    retrieves.script[down.provider_payment_id] = error

    result = payments_backstop_pending()

    assert retrieves.ids == [down.provider_payment_id, fine.provider_payment_id]
    assert (result.selected, result.applied, getattr(result, counted)) == (2, 1, 1)
    down.refresh_from_db()
    fine.refresh_from_db()
    assert down.status == PaymentStatus.PENDING
    assert types_of(down) == ["payment.created"]
    assert fine.status == PaymentStatus.SUCCEEDED
    # Asked (and failed): asked again after the recheck interval, not at every run.
    assert down.provider_checked_at is not None
    assert payments_backstop_pending().selected == 0


def test_an_amount_mismatch_goes_on_the_reconciliation_list_and_is_not_applied(
    retrieves: Retrieves,
) -> None:
    payment = _sandbox_payment(amount=10_000)
    retrieves.script[payment.provider_payment_id] = lambda real: _answer(
        payment, real.status, amount=9_000
    )

    result = payments_backstop_pending()

    assert result.mismatched == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.order.status == OrderStatus.PLACED
    (flagged,) = ReconciliationException.objects.all()
    assert flagged.payment == payment
    assert flagged.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert flagged.status == ReconciliationException.Status.OPEN
    assert flagged.provider_object_id == payment.provider_payment_id
    assert "provider says R$ 90,00, we have R$ 100,00" in flagged.detail
    assert types_of(payment) == ["payment.created", "reconciliation.flagged"]

    # Asked again later, the same disagreement adds nothing to the list.
    later = timezone.now() + timedelta(hours=1)
    assert payments_backstop_pending(now=later).mismatched == 1
    assert ReconciliationException.objects.count() == 1


def test_a_currency_mismatch_is_not_applied_either(retrieves: Retrieves) -> None:
    payment = _sandbox_payment()
    retrieves.script[payment.provider_payment_id] = _answer(
        payment, PaymentStatus.SUCCEEDED, currency="USD"
    )
    assert payments_backstop_pending().mismatched == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert ReconciliationException.objects.filter(payment=payment).count() == 1


# --- ordering against webhooks ------------------------------------------------------------------


def test_an_older_webhook_after_the_backstop_does_not_move_the_payment_backwards(
    client: Any, django_capture_on_commit_callbacks: Any, retrieves: Retrieves
) -> None:
    payment = _sandbox_payment()
    before = timezone.now()
    retrieves.script[payment.provider_payment_id] = _answer(payment, PaymentStatus.PROCESSING)
    assert payments_backstop_pending().applied == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PROCESSING
    watermark = payment.provider_updated_at
    assert watermark is not None and watermark >= before

    # A failure from before the provider's answer (an earlier attempt) arrives late: refused.
    older = _fact(
        payment, "payment.failed", watermark - timedelta(seconds=30), reason="card_declined"
    )
    _post_webhook(client, django_capture_on_commit_callbacks, *older)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PROCESSING
    assert "payment.failed" not in types_of(payment)

    # A fact from after it is news, and applies.
    newer = _fact(payment, "payment.succeeded", watermark + timedelta(seconds=30))
    _post_webhook(client, django_capture_on_commit_callbacks, *newer)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert types_of(payment) == ["payment.created", "payment.processing", "payment.succeeded"]


def test_a_failed_webhook_older_than_the_backstops_success_changes_nothing(
    client: Any, django_capture_on_commit_callbacks: Any, retrieves: Retrieves
) -> None:
    payment = _sandbox_payment()
    assert payments_backstop_pending().applied == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED

    older = _fact(payment, "payment.failed", payment.created_at, reason="card_declined")
    _post_webhook(client, django_capture_on_commit_callbacks, *older)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.order.status == OrderStatus.PAID
    assert types_of(payment) == ["payment.created", "payment.succeeded"]


def test_a_webhook_newer_than_the_backstops_answer_wins_over_it(retrieves: Retrieves) -> None:
    """The webhook got there first with a newer fact: the backstop's older view is refused."""
    payment = _sandbox_payment()
    payment_mark_processing(payment=payment, occurred_at=timezone.now() + timedelta(minutes=5))
    retrieves.script[payment.provider_payment_id] = _answer(payment, PaymentStatus.FAILED)

    result = payments_backstop_pending()

    assert result.superseded == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PROCESSING
    assert "payment.failed" not in types_of(payment)


# --- registration -------------------------------------------------------------------------------


def test_migrate_registered_the_backstop_schedule() -> None:
    schedule = Schedule.objects.get(name="payments-backstop")
    assert schedule.func == "payments.tasks.backstop"
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 5
    assert schedule.repeats == -1
    assert schedule.cluster == django_settings.Q_CLUSTER["name"]
