"""``AsaasPaymentProvider``: Pix, boleto and card charges (with split), refunds, retrieval.

Asaas documents no idempotency header (CONTRACTS §2, UNCONFIRMED). We still send our reference
as ``Idempotency-Key``, but never rely on it: the calls Asaas cannot deduplicate (create a
payment, refund) are sent by a client that does not retry on its own, and before every attempt
the adapter asks Asaas whether the first one already landed (the payment by ``externalReference``,
the refund by its ``description``, which carries our ``refund:<pk>``). A timeout after Asaas
applied the call therefore never charges or refunds twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.outbound.client import backoff_delay
from payments.models import Payment, PaymentMethod, PaymentStatus, Refund
from payments.providers.asaas.client import (
    ASAAS_TZ,
    CURRENCY,
    PROVIDER,
    AsaasClient,
    AsaasMoneyError,
    parse_date,
    parse_datetime,
    to_decimal,
    to_minor,
)
from payments.providers.base import (
    PaymentRequest,
    ProviderMoneyFacts,
    ProviderPayment,
    ProviderRefund,
    RefundRequest,
    SplitShare,
)

T = TypeVar("T")

BILLING_TYPES: dict[str, str] = {
    PaymentMethod.PIX: "PIX",
    PaymentMethod.BOLETO: "BOLETO",
    PaymentMethod.CARD: "CREDIT_CARD",
}
# Days from today (Brasília) to the charge's dueDate; a Pix QR code expires with it.
DUE_DAYS = {"PIX": 1, "BOLETO": 3, "CREDIT_CARD": 0}

_S = PaymentStatus
# Asaas payment status -> ours. Refunds, chargebacks and dunning are about money that was
# received: the payment itself succeeded; refunds and disputes are tracked on their own rows.
STATUS_MAP: dict[str, str] = {
    "PENDING": _S.PENDING,
    "OVERDUE": _S.PENDING,  # a boleto may still be paid after its due date
    "AWAITING_RISK_ANALYSIS": _S.PROCESSING,
    "DUNNING_REQUESTED": _S.PENDING,
    "CONFIRMED": _S.SUCCEEDED,
    "RECEIVED": _S.SUCCEEDED,
    "RECEIVED_IN_CASH": _S.SUCCEEDED,
    "DUNNING_RECEIVED": _S.SUCCEEDED,
    "REFUND_REQUESTED": _S.SUCCEEDED,
    "REFUND_IN_PROGRESS": _S.SUCCEEDED,
    "REFUNDED": _S.SUCCEEDED,
    "CHARGEBACK_REQUESTED": _S.SUCCEEDED,
    "CHARGEBACK_DISPUTE": _S.SUCCEEDED,
    "AWAITING_CHARGEBACK_REVERSAL": _S.SUCCEEDED,
}
# Our statuses of an Asaas charge that will not change by cancelling it.
ENDED = frozenset({_S.CANCELLED, _S.SUCCEEDED})
# Asaas refunds[].status -> ProviderRefund.status.
REFUND_STATUS_MAP = {"PENDING": "processing", "DONE": "succeeded", "CANCELLED": "failed"}


def payment_status(payment: dict[str, Any]) -> str:
    """Our ``PaymentStatus`` value for an Asaas payment object (a deleted one is cancelled; an
    unknown status is ``processing``: in doubt, never succeeded)."""
    if payment.get("deleted") is True:
        return _S.CANCELLED
    return STATUS_MAP.get(str(payment.get("status", "")), _S.PROCESSING)


@dataclass(frozen=True)
class AsaasPayment(ProviderPayment):
    """A ``ProviderPayment`` plus what the customer needs to pay it (no model field holds these
    yet): the Pix QR code, the boleto's slip and due date, the hosted invoice (card)."""

    billing_type: str = ""
    due_date: date | None = None
    invoice_url: str = ""
    bank_slip_url: str = ""
    pix_payload: str = ""
    pix_encoded_image: str = ""
    pix_expires_at: datetime | None = None


def split_rules(entries: list[str] | None = None) -> list[dict[str, Any]]:
    """``ASAAS_SPLIT`` entries -> the ``split`` array: ``"wallet:10%"`` is ``percentualValue``
    10 (of the net value), ``"wallet:1500"`` is ``fixedValue`` 15.00 (centavos -> BRL).

    Raises ImproperlyConfigured for an entry that is neither."""
    rules: list[dict[str, Any]] = []
    for entry in settings.ASAAS_SPLIT if entries is None else entries:
        wallet, _, share = str(entry).strip().rpartition(":")
        share = share.strip()
        if not wallet.strip() or not share:
            raise ImproperlyConfigured(f"ASAAS_SPLIT entry {entry!r} is not 'walletId:share'.")
        if share.endswith("%"):
            try:
                percent = Decimal(share[:-1])
            except InvalidOperation:
                raise ImproperlyConfigured(
                    f"ASAAS_SPLIT entry {entry!r}: bad percentage."
                ) from None
            if not (percent.is_finite() and 0 < percent <= 100):
                raise ImproperlyConfigured(f"ASAAS_SPLIT entry {entry!r}: 0 < % <= 100.")
            rules.append({"walletId": wallet.strip(), "percentualValue": percent})
        elif share.isdigit() and int(share) > 0:
            rules.append({"walletId": wallet.strip(), "fixedValue": to_decimal(int(share))})
        else:
            raise ImproperlyConfigured(
                f"ASAAS_SPLIT entry {entry!r}: the share is 'N%' or positive centavos."
            )
    return rules


def split_of(shares: tuple[SplitShare, ...]) -> list[dict[str, Any]]:
    """A payment's frozen split parts -> the ``split`` array: a fixed amount in centavos is
    ``fixedValue`` in BRL, a percentage ``percentualValue`` (Asaas applies it to the net
    value)."""
    rules: list[dict[str, Any]] = []
    for share in shares:
        if share.fixed_amount is not None:
            rules.append(
                {"walletId": share.wallet_id, "fixedValue": to_decimal(share.fixed_amount)}
            )
        elif share.percent is not None:
            rules.append({"walletId": share.wallet_id, "percentualValue": share.percent})
    return rules


def money_facts_of(payment: dict[str, Any]) -> ProviderMoneyFacts:
    """An Asaas payment object's money: once received or confirmed, fee = ``value`` -
    ``netValue`` and net = ``netValue`` (BRL centavos), authorised and captured = ``value``
    (Asaas captures a card at once); nothing before, when ``netValue`` is only an estimate.
    Raises AsaasMoneyError for an amount that is not whole centavos."""
    if payment_status(payment) != _S.SUCCEEDED or payment.get("netValue") is None:
        return ProviderMoneyFacts()
    value = to_minor(payment.get("value"))
    net = to_minor(payment.get("netValue"))
    return ProviderMoneyFacts(
        fee_amount=value - net,
        net_amount=net,
        settlement_currency=CURRENCY,
        amount_authorized=value,
        amount_captured=value,
    )


def _find_refund(payment: dict[str, Any], reference: str) -> dict[str, Any] | None:
    """The item of ``payment["refunds"]`` that our refund ``reference`` created, if any."""
    for item in payment.get("refunds") or []:
        if isinstance(item, dict) and str(item.get("description", "")).strip() == reference:
            return item
    return None


def provider_refund_id(provider_payment_id: str, reference: str) -> str:
    """Asaas refunds carry no id of their own: ours is the payment id plus our reference."""
    return f"{provider_payment_id}:{reference}"


class AsaasPaymentProvider:
    """The ``PaymentProvider`` for Asaas. Calls providers, so never inside a transaction."""

    name = PROVIDER

    def __init__(
        self,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._session_factory = session_factory
        self._sleep = sleep

    def _client(self, *, max_attempts: int | None = None) -> AsaasClient:
        session = self._session_factory() if self._session_factory else None
        return AsaasClient(session=session, max_attempts=max_attempts)

    def _check_then_send(self, check: Callable[[], T | None], send: Callable[[], T]) -> T:
        """Run ``send`` (one attempt) unless ``check`` finds its effect already there; after a
        failure that may or may not have landed, check again before sending again.

        Raises the last ProviderUnavailable after OUTBOUND_MAX_ATTEMPTS sends, CircuitOpen at once,
        ProviderRejected at once."""
        attempts = max(1, int(settings.OUTBOUND_MAX_ATTEMPTS))
        for attempt in range(1, attempts + 1):
            found = check()
            if found is not None:
                return found
            try:
                return send()
            except CircuitOpen:
                raise
            except ProviderUnavailable as exc:
                too_long = (
                    exc.retry_after is not None
                    and exc.retry_after > settings.OUTBOUND_BACKOFF_MAX_SECONDS
                )
                if attempt == attempts or too_long:
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = backoff_delay(
                        attempt,
                        base=settings.OUTBOUND_BACKOFF_BASE_SECONDS,
                        cap=settings.OUTBOUND_BACKOFF_MAX_SECONDS,
                    )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # create_payment ------------------------------------------------------------------------

    def create_payment(self, *, request: PaymentRequest) -> AsaasPayment:
        """Create the Asaas charge for ``request`` (``externalReference`` = our reference) and,
        for Pix, fetch its QR code.

        Idempotent on ``request.reference``: an Asaas payment already carrying it is returned
        instead of creating another (checked before every attempt). Reuses the Asaas customer
        with the same CPF/CNPJ, or creates one. Raises TaxDocumentMissing (a ProviderRejected)
        before any call when our customer has no CPF/CNPJ, which Asaas requires; ProviderRejected
        for a currency other than BRL, a method Asaas does not take, or a 4xx; ProviderUnavailable /
        CircuitOpen when Asaas cannot be reached (retry later); RuntimeError inside a
        transaction."""
        operation = "payment.create"
        if request.currency.upper() != CURRENCY:
            raise ProviderRejected(
                f"{PROVIDER}: only BRL, not {request.currency}.",
                provider=PROVIDER,
                operation=operation,
            )
        billing_type = BILLING_TYPES.get(request.method)
        if billing_type is None:
            raise ProviderRejected(
                f"{PROVIDER}: no billing type for method {request.method!r}.",
                provider=PROVIDER,
                operation=operation,
            )
        # The payment's own split (frozen from its order), else ASAAS_SPLIT; a malformed setting
        # raises ImproperlyConfigured before anything is sent.
        split = split_of(request.split) if request.split else split_rules()
        ours = _our_row(Payment, request.reference)
        cpf_cnpj = _tax_document(ours, operation)  # refused before anything is sent
        client = self._client()
        once = self._client(max_attempts=1)

        def existing() -> dict[str, Any] | None:
            found = client.find_payments(external_reference=request.reference)
            live = [p for p in found if p.get("deleted") is not True]
            candidates = live or found
            return candidates[0] if candidates else None

        def send() -> dict[str, Any]:
            customer = self._customer(client, request, ours, cpf_cnpj)
            today = timezone.now().astimezone(ASAAS_TZ).date()
            body: dict[str, Any] = {
                "customer": customer,
                "billingType": billing_type,
                "value": to_decimal(request.amount),
                "dueDate": (today + timedelta(days=DUE_DAYS[billing_type])).isoformat(),
                "externalReference": request.reference,
                "description": f"Switchboard {request.reference}",
            }
            if split:
                body["split"] = split
            return once.create_payment(body=body, idempotency_key=request.reference, subject=ours)

        answer = self._check_then_send(existing, send)
        payment = self._to_payment(answer)
        if billing_type == "PIX" and payment.status == _S.PENDING:
            qr = client.pix_qr_code(payment.provider_payment_id, subject=ours)
            payment = replace(
                payment,
                pix_payload=str(qr.get("payload", "")),
                pix_encoded_image=str(qr.get("encodedImage", "")),
                pix_expires_at=parse_datetime(qr.get("expirationDate")),
            )
        return payment

    def _customer(
        self, client: AsaasClient, request: PaymentRequest, ours: Payment | None, cpf_cnpj: str
    ) -> str:
        """The ``cus_...`` to charge: the first with the same CPF/CNPJ, or a new one."""
        customer = ours.order.customer if ours is not None else None
        email = request.customer_email or (customer.email if customer is not None else "")
        for found in client.find_customers(cpf_cnpj=cpf_cnpj):
            if found.get("deleted") is not True and found.get("id"):
                return str(found["id"])
        body: dict[str, Any] = {
            "name": request.customer_name or (customer.name if customer else "") or "Cliente",
            "cpfCnpj": cpf_cnpj,
        }
        if email:
            body["email"] = email
        if customer is not None:
            body["externalReference"] = f"customer:{customer.pk}"
        created = client.create_customer(
            body=body, idempotency_key=f"customer-for-{request.reference}", subject=ours
        )
        return str(created["id"])

    def _to_payment(self, answer: dict[str, Any]) -> AsaasPayment:
        try:
            amount = to_minor(answer.get("originalValue") or answer.get("value"))
        except AsaasMoneyError as exc:
            raise ProviderUnavailable(
                f"{PROVIDER}: unreadable payment value ({exc}).", provider=PROVIDER
            ) from None
        return AsaasPayment(
            provider_payment_id=str(answer.get("id", "")),
            status=payment_status(answer),
            amount=amount,
            currency=CURRENCY,
            billing_type=str(answer.get("billingType", "")),
            due_date=parse_date(answer.get("dueDate")),
            invoice_url=str(answer.get("invoiceUrl") or ""),
            bank_slip_url=str(answer.get("bankSlipUrl") or ""),
        )

    # refund --------------------------------------------------------------------------------

    def refund(self, *, request: RefundRequest) -> ProviderRefund:
        """Refund ``request.amount`` (all or part) of the Asaas payment, with our reference as
        the refund's ``description``.

        Idempotent on ``request.reference``: before every attempt the payment's ``refunds[]``
        is read and a refund already carrying the reference is returned, so a timeout or 5xx
        after Asaas applied it never refunds twice. Raises ProviderRejected on a 4xx (e.g. not
        enough balance, more than what is left) or a currency other than BRL,
        ProviderUnavailable / CircuitOpen (retry later), RuntimeError inside a transaction."""
        if request.currency.upper() != CURRENCY:
            raise ProviderRejected(
                f"{PROVIDER}: only BRL, not {request.currency}.",
                provider=PROVIDER,
                operation="payment.refund",
            )
        ours = _our_row(Refund, request.reference)
        client = self._client()
        once = self._client(max_attempts=1)
        payment_id = request.provider_payment_id

        def existing() -> dict[str, Any] | None:
            return _find_refund(client.get_payment(payment_id, subject=ours), request.reference)

        def send() -> dict[str, Any]:
            answer = once.refund(
                payment_id,
                body={"value": to_decimal(request.amount), "description": request.reference},
                idempotency_key=request.reference,
                subject=ours,
            )
            return _find_refund(answer, request.reference) or {"status": "PENDING"}

        item = self._check_then_send(existing, send)
        return ProviderRefund(
            provider_refund_id=provider_refund_id(payment_id, request.reference),
            status=REFUND_STATUS_MAP.get(str(item.get("status", "")), "processing"),
            amount=request.amount,
        )

    # cancel --------------------------------------------------------------------------------

    def cancel(self, *, provider_payment_id: str, reference: str) -> AsaasPayment:
        """Cancel the Asaas charge (``DELETE /payments/{id}``): it becomes ``deleted`` and can no
        longer be paid.

        Idempotent: before every attempt the charge is read, and one already deleted (or already
        paid) is answered as it is, without sending the DELETE again; a DELETE Asaas refuses is
        answered the same way when the charge turns out paid or deleted meanwhile (the customer
        paid first: status ``succeeded``). Raises ProviderRejected for a charge Asaas does not
        know or will not delete, ProviderUnavailable / CircuitOpen (retry later), RuntimeError
        inside a transaction."""
        ours = _our_row(Payment, reference)
        client = self._client()
        once = self._client(max_attempts=1)
        seen: dict[str, Any] = {}

        def ended() -> dict[str, Any] | None:
            seen.update(client.get_payment(provider_payment_id, subject=ours))
            return seen if payment_status(seen) in ENDED else None

        def send() -> dict[str, Any]:
            try:
                once.delete_payment(
                    provider_payment_id, idempotency_key=f"{reference}:cancel", subject=ours
                )
            except ProviderRejected:
                if ended() is None:
                    raise
                return seen
            return {**seen, "deleted": True}

        return self._to_payment(self._check_then_send(ended, send))

    # money facts ---------------------------------------------------------------------------

    def money_facts(self, *, provider_payment_id: str) -> ProviderMoneyFacts:
        """Fee and net of the Asaas payment (``GET /payments/{id}``: ``value`` - ``netValue``)
        once it was received or confirmed (``money_facts_of``). Read-only, safe to repeat.
        Raises ProviderRejected (e.g. 404) or ProviderUnavailable (also for an unreadable
        amount)."""
        answer = self._client().get_payment(provider_payment_id)
        try:
            return money_facts_of(answer)
        except AsaasMoneyError as exc:
            raise ProviderUnavailable(
                f"{PROVIDER}: unreadable payment value ({exc}).", provider=PROVIDER
            ) from None

    # retrieve ------------------------------------------------------------------------------

    def retrieve(self, *, provider_payment_id: str) -> AsaasPayment:
        """Asaas's current view of the payment (``GET /payments/{id}``); read-only, safe to
        repeat. Raises ProviderRejected (e.g. 404) or ProviderUnavailable."""
        return self._to_payment(self._client().get_payment(provider_payment_id))


class TaxDocumentMissing(ProviderRejected):
    """Asaas issues no charge to a customer without a CPF/CNPJ (``cpfCnpj`` is required to
    create its customer); refused here, before any call. Terminal: the same order fails the same
    way until the customer's document is filled in. ``customer_reason`` is what the customer is
    told."""

    code = "tax_document_missing"
    http_status = 422
    title = "CPF/CNPJ missing"
    customer_reason = "We need your CPF or CNPJ to issue this charge. Please send it to us."


def _tax_document(ours: Payment | None, operation: str) -> str:
    """The CPF/CNPJ of the customer whose payment ``ours`` is; TaxDocumentMissing when there is
    none (or no payment of ours to read it from)."""
    customer = ours.order.customer if ours is not None else None
    if customer is None or not customer.tax_document.strip():
        who = f"customer {customer.pk}" if customer is not None else "an unknown customer"
        raise TaxDocumentMissing(
            f"{PROVIDER}: {who} has no CPF/CNPJ; Asaas needs one to issue a charge.",
            provider=PROVIDER,
            operation=operation,
        )
    return customer.tax_document.strip()


M = TypeVar("M", Payment, Refund)


def _our_row(model: type[M], reference: str) -> M | None:
    """Our row named by ``"<model>:<pk>"``, to link the calls to it; None if it is not there."""
    prefix, _, pk = reference.partition(":")
    if prefix != model.__name__.lower() or not pk.isdigit():
        return None
    return model._default_manager.filter(pk=int(pk)).first()
