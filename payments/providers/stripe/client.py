"""The only module that touches the ``stripe`` SDK.

The SDK builds requests and reads answers; the transport is ours: every HTTP exchange goes through
``integrations.outbound.client.ProviderClient`` (timeouts, retries with backoff on timeouts, 429
and 5xx with the *same* idempotency key, the circuit breaker, one ``ProviderCall`` row per attempt,
secrets scrubbed). The SDK's own retries are off (``max_network_retries=0``).

SDK objects never leave this module: callers get the frozen dataclasses below, and SDK errors are
mapped to ``ProviderUnavailable`` (retry later) or ``ProviderRejected`` (terminal).
"""

from __future__ import annotations

import contextvars
import io
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import stripe
from django.conf import settings
from django.db import models

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.outbound.client import ProviderClient
from integrations.webhooks.registry import SignatureRejected

if TYPE_CHECKING:
    from stripe.params._payment_intent_cancel_params import PaymentIntentCancelParams
    from stripe.params._payment_intent_create_params import PaymentIntentCreateParams
    from stripe.params._refund_create_params import RefundCreateParams

PROVIDER = "stripe"
# The reasons the API lets us give when cancelling a PaymentIntent.
PaymentIntentCancelReason = Literal["abandoned", "duplicate", "fraudulent", "requested_by_customer"]
MAX_SIGNATURE_HEADER = 4096


@dataclass(frozen=True)
class StripePaymentIntent:
    id: str
    status: str
    """Stripe's status: requires_*, processing, succeeded, canceled."""
    amount: int
    currency: str
    """Upper-case ISO 4217 (Stripe's lower case converted at this edge)."""
    latest_charge: str = ""
    failure_code: str = ""


@dataclass(frozen=True)
class StripeRefund:
    id: str
    status: str
    """Stripe's status: pending, requires_action, succeeded, failed, canceled."""
    amount: int
    currency: str
    payment_intent: str = ""


@dataclass(frozen=True)
class StripeMoneyFacts:
    """A PaymentIntent's money as Stripe reports it: the authorised and captured amounts (its
    latest Charge's ``amount`` / ``amount_captured``, else ``amount_capturable`` +
    ``amount_received`` / ``amount_received``), and the charge's balance transaction (``fee``,
    ``net`` in its settlement ``currency``, ``available_on``) once Stripe created one (None
    before: an uncaptured or still pending charge)."""

    amount_authorized: int | None
    amount_captured: int | None
    fee: int | None = None
    net: int | None = None
    currency: str = ""
    """Upper-case ISO 4217 of fee and net."""
    available_on: int | None = None
    """Unix seconds."""


@dataclass(frozen=True)
class _CallContext:
    operation: str
    subject: models.Model | None


_CONTEXT: contextvars.ContextVar[_CallContext | None] = contextvars.ContextVar(
    "stripe_call_context", default=None
)


class LedgerHTTPClient(stripe.HTTPClient):
    """A ``stripe.HTTPClient`` that sends through ``ProviderClient``.

    The SDK hands over the absolute URL, its headers (``Authorization``, ``Idempotency-Key``,
    ``Stripe-Version``...) and the form-encoded body. A 4xx answer is handed back to the SDK so it
    raises its typed error (``CardError``, ``InvalidRequestError``...); ``ProviderUnavailable``
    (timeouts, connection errors, 429 or 5xx after our retries, circuit open) passes through."""

    name = "switchboard"

    def __init__(self, provider_client: ProviderClient, *others: ProviderClient) -> None:
        super().__init__()
        self._client = provider_client
        # One client per Stripe host (the API, the files host for uploads): the URL picks it.
        self._clients = (provider_client, *others)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        context = _CONTEXT.get() or _CallContext(
            operation=f"{method.lower()}_request", subject=None
        )
        client = next((c for c in self._clients if url.startswith(f"{c.base_url}/")), None)
        if client is None:
            raise ValueError("The Stripe SDK built a URL outside STRIPE_API_BASE.")
        path = url[len(client.base_url) :]
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "idempotency-key"}
        key = next((v for k, v in (headers or {}).items() if k.lower() == "idempotency-key"), None)
        try:
            response = client.request(
                context.operation,
                method.upper(),
                path,
                data=post_data,
                headers=sent,
                idempotency_key=key,
                subject=context.subject,
            )
        except ProviderRejected as exc:
            if exc.response is None:
                raise
            response = exc.response
        return response.content.decode("utf-8"), response.status_code, response.headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("Streaming is not used with Stripe here.")

    def close(self) -> None:
        self._client.session.close()


def _unavailable(operation: str, exc: stripe.StripeError) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"stripe {operation}: {type(exc).__name__} (HTTP {exc.http_status})",
        provider=PROVIDER,
        operation=operation,
        status_code=exc.http_status,
    )


def _rejected(operation: str, exc: stripe.StripeError) -> ProviderRejected:
    # The error code and type only; Stripe's message may echo request details.
    error = exc.error
    kind = getattr(error, "type", None) or type(exc).__name__
    code = exc.code or getattr(error, "decline_code", None) or ""
    return ProviderRejected(
        f"stripe {operation}: {kind} {code}".strip(),
        provider=PROVIDER,
        operation=operation,
        status_code=exc.http_status or 0,
    )


class StripeGateway:
    """Typed calls to the Stripe API, one ``StripeClient`` per gateway.

    Settings are read when the gateway is built (``STRIPE_SECRET_KEY``, ``STRIPE_API_BASE``); the
    adapter builds one per call, so settings changes (tests, rotation) apply at once."""

    def __init__(self, *, api_key: str, api_base: str, files_base: str = "") -> None:
        if not api_key:
            raise ProviderRejected(
                "stripe: STRIPE_SECRET_KEY is not configured.", provider=PROVIDER
            )
        self._provider_client = ProviderClient(PROVIDER, api_base, secret_values=(api_key,))
        bases: dict[str, str] = {"api": api_base.rstrip("/")}
        others: list[ProviderClient] = []
        if files_base and files_base.rstrip("/") != bases["api"]:
            bases["files"] = files_base.rstrip("/")
            others.append(ProviderClient(PROVIDER, files_base, secret_values=(api_key,)))
        elif files_base:
            bases["files"] = bases["api"]
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=bases,  # type: ignore[arg-type]
            max_network_retries=0,
            http_client=LedgerHTTPClient(self._provider_client, *others),
        )

    @classmethod
    def from_settings(cls) -> StripeGateway:
        return cls(
            api_key=settings.STRIPE_SECRET_KEY,
            api_base=settings.STRIPE_API_BASE,
            files_base=settings.STRIPE_FILES_API_BASE,
        )

    @contextmanager
    def _call(self, operation: str, subject: models.Model | None) -> Iterator[None]:
        token = _CONTEXT.set(_CallContext(operation=operation, subject=subject))
        try:
            yield
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise _unavailable(operation, exc) from None
        except stripe.APIError as exc:
            if exc.http_status is None or exc.http_status >= 500:
                raise _unavailable(operation, exc) from None
            raise _rejected(operation, exc) from None
        except stripe.StripeError as exc:
            raise _rejected(operation, exc) from None
        finally:
            _CONTEXT.reset(token)

    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        reference: str,
        payment_method_types: list[str],
        payment_method: str = "",
        capture_method: Literal["automatic", "manual"] = "automatic",
        subject: models.Model | None = None,
    ) -> StripePaymentIntent:
        """``POST /v1/payment_intents`` with ``Idempotency-Key: <reference>``; confirmed at once
        when ``payment_method`` is given; ``capture_method=manual`` only authorises it."""
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "metadata": {"reference": reference},
            "allowed_payment_method_types": list(payment_method_types),
        }
        if capture_method == "manual":
            params["capture_method"] = "manual"
        if payment_method:
            params["payment_method"] = payment_method
            params["confirm"] = True
        with self._call("create_payment", subject):
            intent = self._client.v1.payment_intents.create(
                params, options={"idempotency_key": reference}
            )
        return _intent(intent)

    def confirm_payment_intent(
        self,
        *,
        intent_id: str,
        idempotency_key: str,
        payment_method: str = "",
        subject: models.Model | None = None,
    ) -> StripePaymentIntent:
        """``POST /v1/payment_intents/{id}/confirm``."""
        with self._call("confirm_payment", subject):
            intent = self._client.v1.payment_intents.confirm(
                intent_id,
                {"payment_method": payment_method} if payment_method else {},
                options={"idempotency_key": idempotency_key},
            )
        return _intent(intent)

    def cancel_payment_intent(
        self,
        *,
        intent_id: str,
        idempotency_key: str,
        cancellation_reason: PaymentIntentCancelReason = "abandoned",
        subject: models.Model | None = None,
    ) -> StripePaymentIntent:
        """``POST /v1/payment_intents/{id}/cancel`` with ``cancellation_reason``."""
        params: PaymentIntentCancelParams = {"cancellation_reason": cancellation_reason}
        with self._call("cancel_payment", subject):
            intent = self._client.v1.payment_intents.cancel(
                intent_id, params, options={"idempotency_key": idempotency_key}
            )
        return _intent(intent)

    def retrieve_payment_intent(
        self, *, intent_id: str, subject: models.Model | None = None
    ) -> StripePaymentIntent:
        """``GET /v1/payment_intents/{id}``."""
        with self._call("retrieve_payment", subject):
            intent = self._client.v1.payment_intents.retrieve(intent_id)
        return _intent(intent)

    def retrieve_money_facts(
        self, *, intent_id: str, subject: models.Model | None = None
    ) -> StripeMoneyFacts:
        """``GET /v1/payment_intents/{id}?expand[]=latest_charge.balance_transaction``: one call
        gives the charge and its balance transaction."""
        with self._call("retrieve_money_facts", subject):
            intent = self._client.v1.payment_intents.retrieve(
                intent_id, {"expand": ["latest_charge.balance_transaction"]}
            )
            charge = intent.latest_charge
            if isinstance(charge, str) or charge is None:
                received = int(intent.amount_received or 0)
                capturable = int(intent.amount_capturable or 0)
                held = received + capturable
                return StripeMoneyFacts(
                    amount_authorized=held or None, amount_captured=received if held else None
                )
        txn = charge.balance_transaction
        facts = StripeMoneyFacts(
            amount_authorized=int(charge.amount),
            amount_captured=int(charge.amount_captured or 0),
        )
        if txn is None or isinstance(txn, str):
            return facts
        return StripeMoneyFacts(
            amount_authorized=facts.amount_authorized,
            amount_captured=facts.amount_captured,
            fee=int(txn.fee),
            net=int(txn.net),
            currency=str(txn.currency).upper(),
            available_on=int(txn.available_on),
        )

    def create_refund(
        self,
        *,
        payment_intent: str,
        amount: int,
        reference: str,
        subject: models.Model | None = None,
    ) -> StripeRefund:
        """``POST /v1/refunds`` with ``Idempotency-Key: <reference>``."""
        params: RefundCreateParams = {
            "payment_intent": payment_intent,
            "amount": amount,
            "metadata": {"reference": reference},
        }
        with self._call("refund", subject):
            refund = self._client.v1.refunds.create(params, options={"idempotency_key": reference})
        return StripeRefund(
            id=refund.id,
            status=str(refund.status or ""),
            amount=refund.amount,
            currency=refund.currency.upper(),
            payment_intent=_id_of(refund.payment_intent),
        )

    def list_balance_transactions(
        self,
        *,
        limit: int = 100,
        starting_after: str = "",
        created_gte: int | None = None,
        payout: str = "",
    ) -> StripePage:
        """``GET /v1/balance_transactions`` (newest first): one page after ``starting_after``,
        optionally ``created[gte]`` (unix seconds) or only the lines paid out in ``payout``.
        Each line's ``source`` is expanded, so a charge's line names its PaymentIntent (what our
        payment holds; the matching engine reads it from the stored line)."""
        params: dict[str, Any] = {"limit": limit, "expand": ["data.source"]}
        if starting_after:
            params["starting_after"] = starting_after
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        if payout:
            params["payout"] = payout
        with self._call("list_balance_transactions", None):
            listed = self._client.v1.balance_transactions.list(params)  # type: ignore[arg-type]
        return _page(listed)

    def list_payouts(
        self, *, limit: int = 100, starting_after: str = "", created_gte: int | None = None
    ) -> StripePage:
        """``GET /v1/payouts`` (newest first), one page."""
        params: dict[str, Any] = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        with self._call("list_payouts", None):
            listed = self._client.v1.payouts.list(params)  # type: ignore[arg-type]
        return _page(listed)

    def upload_evidence_file(
        self,
        *,
        content: bytes,
        filename: str,
        idempotency_key: str,
        subject: models.Model | None = None,
    ) -> str:
        """``POST https://files.stripe.com/v1/files`` (multipart, ``purpose=dispute_evidence``):
        the new file's id (``file_...``). Stripe refuses (ProviderRejected) a type other than
        PDF, JPEG or PNG and a file over 5 MB."""
        upload = io.BytesIO(content)
        upload.name = filename
        with self._call("upload_evidence_file", subject):
            uploaded = self._client.v1.files.create(
                {"file": upload, "purpose": "dispute_evidence"},
                options={"idempotency_key": idempotency_key},
            )
        return str(uploaded.id)

    def submit_dispute_evidence(
        self,
        *,
        dispute_id: str,
        evidence: Mapping[str, str],
        idempotency_key: str,
        subject: models.Model | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/disputes/{id}`` with ``evidence[...]`` (file fields carry file ids) and
        ``submit=true``: the dispute as Stripe answers it (its ``status`` is then
        ``under_review``). Stripe refuses (ProviderRejected) a dispute that no longer takes
        evidence (already submitted, closed, past its due date)."""
        params: dict[str, Any] = {"evidence": dict(evidence), "submit": True}
        with self._call("submit_dispute_evidence", subject):
            dispute = self._client.v1.disputes.update(
                dispute_id,
                params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return dict(dispute.to_dict())

    def retrieve_payout(self, payout_id: str) -> dict[str, Any]:
        """``GET /v1/payouts/{id}``."""
        with self._call("retrieve_payout", None):
            payout = self._client.v1.payouts.retrieve(payout_id)
        return dict(payout.to_dict())


def _id_of(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(getattr(value, "id", ""))


def _intent(intent: stripe.PaymentIntent) -> StripePaymentIntent:
    error = intent.last_payment_error
    return StripePaymentIntent(
        id=intent.id,
        status=intent.status,
        amount=intent.amount,
        currency=intent.currency.upper(),
        latest_charge=_id_of(intent.latest_charge),
        failure_code=str((error.code or error.decline_code or "") if error else ""),
    )


def verify_signature(
    *, body: bytes, header: str, secrets: list[str], tolerance: int, now: float | None = None
) -> None:
    """Verify ``Stripe-Signature`` as the SDK does (``t=...,v1=...``, HMAC-SHA256 hex of
    ``"{t}.{body}"`` keyed with the ``whsec_`` string as-is), accepting any of ``secrets``
    (rotation) and any of the header's ``v1`` values. Unlike the SDK, a timestamp more than
    ``tolerance`` seconds in the future is refused too. Raises SignatureRejected."""
    usable = [s for s in secrets if s and s.strip()]
    if not usable:
        raise SignatureRejected("No Stripe webhook secret is configured.")
    if not header or len(header) > MAX_SIGNATURE_HEADER:
        raise SignatureRejected("Missing or oversized Stripe-Signature header.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureRejected("Body is not UTF-8.") from None
    timestamps = [
        value for key, _, value in (item.partition("=") for item in header.split(",")) if key == "t"
    ]
    if not timestamps or not timestamps[0].strip().isdigit():
        raise SignatureRejected("Unable to extract timestamp from Stripe-Signature.")
    current = time.time() if now is None else now
    if int(timestamps[0]) > current + tolerance:
        raise SignatureRejected("Timestamp is in the future, outside the tolerance zone.")
    last = "No signatures found matching the expected signature for payload"
    for secret in usable:
        try:
            if now is None:
                stripe.WebhookSignature.verify_header(text, header, secret, tolerance)
            else:
                _verify_at(text, header, secret, tolerance, now)
            return
        except stripe.SignatureVerificationError as exc:
            last = str(exc.user_message or exc) or last
    raise SignatureRejected(last)


def _verify_at(text: str, header: str, secret: str, tolerance: int, now: float) -> None:
    """The SDK's check at a fixed clock (for test vectors): the signature first, then age."""
    stripe.WebhookSignature.verify_header(text, header, secret, tolerance=None)
    timestamp = int(
        next(value for key, _, value in (i.partition("=") for i in header.split(",")) if key == "t")
    )
    if timestamp < now - tolerance:
        raise stripe.SignatureVerificationError(
            "Timestamp outside the tolerance zone", header, text
        )


def sign_payload(*, body: str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe would send (the SDK's own helper); for tests and
    local tooling."""
    return str(stripe.WebhookSignature.generate_signature_header(body, secret, timestamp))


@dataclass(frozen=True)
class StripePage:
    """One page of a Stripe list: the objects as plain dicts (Stripe's JSON), and has_more."""

    items: list[dict[str, Any]]
    has_more: bool


def _page(listed: Any) -> StripePage:
    return StripePage(
        items=[item.to_dict() for item in listed.data], has_more=bool(listed.has_more)
    )
