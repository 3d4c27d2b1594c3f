"""Demo data for the operations screens: the webhook inbox in every status, a rejected forged
webhook, provider calls (successes, 4xx rejections, 5xx, timeouts, a call the breaker refused),
an open and a half-open circuit breaker, and deliveries that succeeded, failed and died.

Real code paths wherever they are cheap and deterministic:

* webhooks are POSTed through Django's test client to ``/webhooks/sandbox-*/`` (signed with the
  sandbox secret, or forged) and processed by the inbox's own processing code, so their statuses,
  errors and tracebacks are the real ones;
* provider calls go through ``ProviderClient`` (ledger rows, retries, breaker) over a scripted
  transport standing in for Stripe's and Asaas's servers, so rows and error texts are the real
  ones; the breakers move through their own functions;
* only the outbox rows (Delivery) are written directly, because running the subscribers would
  call providers; their errors are the relay's format of the exceptions the calls above raised.

"Time passing" (a retry's backoff, a breaker's cool-down) is the one thing simulated: the row's
due time is moved to now before the next real attempt. Nothing is dated in the future.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPSConnectionPool
from urllib3.exceptions import ReadTimeoutError

from accounts.models import Customer
from config.demo_addresses import demo_address
from integrations.deliveries.registry import get_subscriber
from integrations.events import recording_history
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import (
    CircuitBreaker,
    Delivery,
    DomainEvent,
    ProviderCall,
    TaskHeartbeat,
    WebhookEvent,
)
from integrations.outbound.breaker import breaker_permit, breaker_state
from integrations.outbound.client import ProviderClient
from integrations.sandbox import sandbox_secret
from integrations.schedules import MAIN, SWEEPERS
from integrations.tasks import heartbeat
from integrations.webhooks.processing import webhook_event_process
from integrations.webhooks.standard import standard_webhooks_headers
from notifications.channels.base import RecipientUnreachable
from notifications.channels.sandbox.adapter import NOT_ON_WHATSAPP
from notifications.consent.services import consent_opt_out
from notifications.models import ConsentRecord, EmailSuppression
from notifications.policy.models import NotificationPreference, WhatsAppTemplate
from notifications.policy.services import notification_preferences_set
from notifications.services import email_suppression_add
from orders.services import OrderLineInput, order_place
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.services import (
    payment_attach_provider_id,
    payment_create,
    payment_mark_failed,
    payment_mark_succeeded,
)
from shipping.models import Shipment, ShipmentStatus

DEMO_WEBHOOK_PREFIX = "msg_demo_"
NOTIFY_SUBSCRIBER = "notifications.notify_customer"
# At most this many orders per provider are sent into its outage before giving up on opening
# its breaker (the breaker settings decide how many it takes).
MAX_OUTAGE_ORDERS = 12
FORGED_SECRET = "whsec_" + "Zm9yZ2VkLWJ5LXNvbWVvbmUtd2l0aG91dC10aGUta2V5"  # not ours
OUTAGE_LINES = [OrderLineInput("CAF-1K", "Specialty coffee 1 kg", 1, 15_900)]


@dataclass(frozen=True)
class OperationsResult:
    webhook_events: int
    provider_calls: int
    deliveries: int


def seed_operations(*, now: datetime) -> OperationsResult:
    """Fill the operations screens once; a later run finds the demo's webhook events and provider
    calls and changes nothing. Must run outside any transaction (provider calls commit on their
    own)."""
    if not WebhookEvent.objects.filter(event_id__startswith=DEMO_WEBHOOK_PREFIX).exists():
        with transaction.atomic(), recording_history():
            _seed_webhooks(now)
    if not ProviderCall.objects.exists():
        with recording_history():
            _seed_provider_calls(now)
    if not Delivery.objects.filter(subscriber=NOTIFY_SUBSCRIBER).exists():
        _seed_dead_notification()
    if not EmailSuppression.objects.exists():
        _seed_suppression()
    if not ConsentRecord.objects.exists():
        _seed_consent()
    if not NotificationPreference.objects.exists():
        _seed_preference()
    if not WhatsAppTemplate.objects.exists():
        _seed_whatsapp_template()
    if not TaskHeartbeat.objects.exists():
        # What each cluster's periodic heartbeat task writes (the clusters start after seeding).
        heartbeat(role=MAIN)
        heartbeat(role=SWEEPERS)
    return OperationsResult(
        webhook_events=WebhookEvent.objects.count(),
        provider_calls=ProviderCall.objects.count(),
        deliveries=Delivery.objects.count(),
    )


def _seed_suppression() -> None:
    """One address on the e-mail suppression list, as a Resend hard bounce would leave it (the
    demo sends e-mail to the console, so no ESP reports bounces)."""
    customer = Customer.objects.exclude(email="").order_by("-id").first()
    if customer is not None:
        email_suppression_add(
            address=customer.email,
            reason="bounced",
            detail="Demo: the recipient's mail server answered with a hard bounce.",
            provider="resend",
        )


def _seed_consent() -> None:
    """One customer who answered a WhatsApp message with PARAR, as Twilio's inbound webhook
    would record it (the demo's WhatsApp is the sandbox, which takes no inbound messages)."""
    customer = Customer.objects.exclude(phone="").order_by("id").first()
    if customer is not None:
        consent_opt_out(
            customer=customer,
            channel="whatsapp",
            source="twilio inbound PARAR",
            detail="PARAR",
            address=f"whatsapp:{customer.phone}",
        )


def _seed_preference() -> None:
    """One customer who asked support for no marketing by WhatsApp."""
    customer = Customer.objects.order_by("id").first()
    if customer is not None:
        notification_preferences_set(
            customer=customer, preferences={("marketing", "whatsapp"): False}, source="demo"
        )


def _seed_whatsapp_template() -> None:
    """The order-paid template, as ops would register it once WhatsApp approved it at Twilio
    (the Content SID is a placeholder: the demo's WhatsApp is the sandbox)."""
    WhatsAppTemplate.objects.create(
        key="order_paid",
        language="pt-br",
        provider="twilio",
        provider_template="HX" + "0" * 32,
        variables=["first_name", "order_number", "order_total"],
        content="Olá {{1}}, recebemos o pagamento do pedido {{2}} ({{3}}).",
        approved=True,
    )


# Webhooks ----------------------------------------------------------------------------------


def _client() -> Client:
    hosts = [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in ("*", "")]
    return Client(HTTP_HOST=hosts[0] if hosts else "localhost")


def _post(
    endpoint: str,
    name: str,
    body: dict[str, Any],
    *,
    signed_at: datetime | None = None,
    secret: str | None = None,
    remote_addr: str = "127.0.0.1",
) -> int:
    raw = json.dumps(body, separators=(",", ":"))
    headers = standard_webhooks_headers(
        secret=secret or sandbox_secret(),
        msg_id=f"{DEMO_WEBHOOK_PREFIX}{name}",
        body=raw,
        at=signed_at or timezone.now(),
    )
    response = _client().post(
        f"/webhooks/{endpoint}/",
        data=raw,
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=remote_addr,
        secure=bool(getattr(settings, "SECURE_SSL_REDIRECT", False)),
    )
    return response.status_code


def _event(name: str) -> WebhookEvent:
    return WebhookEvent.objects.get(event_id=f"{DEMO_WEBHOOK_PREFIX}{name}")


def _tracking(shipment: Shipment, status: str, at: datetime, *, code: str = "") -> dict[str, Any]:
    return {
        "type": "tracking.updated",
        "timestamp": at.isoformat(),
        "data": {
            "reference": f"shipment:{shipment.pk}",
            "tracking_code": code or shipment.tracking_code,
            "status": status,
            "location": "São Paulo, SP",
        },
    }


def _seed_webhooks(now: datetime) -> None:
    in_transit = list(
        Shipment.objects.filter(status=ShipmentStatus.IN_TRANSIT, carrier="sandbox").order_by("id")[
            :4
        ]
    )
    if len(in_transit) < 4:
        return
    sent = now - timedelta(minutes=20)
    # processed: two parcels out for delivery, applied through the tracking service.
    for i, shipment in enumerate(in_transit[:2]):
        at = sent + timedelta(minutes=i)
        _post(
            "sandbox-shipping",
            f"out_for_delivery_{shipment.pk}",
            _tracking(shipment, ShipmentStatus.OUT_FOR_DELIVERY, at),
        )
        webhook_event_process(event_id=_event(f"out_for_delivery_{shipment.pk}").pk)
    # The carrier delivered the first one twice: a duplicate stores nothing new.
    first = in_transit[0]
    _post(
        "sandbox-shipping",
        f"out_for_delivery_{first.pk}",
        _tracking(first, ShipmentStatus.OUT_FOR_DELIVERY, sent),
    )
    # ignored: a type no handler knows is kept, not processed.
    at = sent + timedelta(minutes=4)
    _post(
        "sandbox-shipping",
        "label_printed",
        {
            "type": "label.printed",
            "timestamp": at.isoformat(),
            "data": {"reference": f"shipment:{in_transit[2].pk}"},
        },
    )
    webhook_event_process(event_id=_event("label_printed").pk)
    # failed (waits for its object): a payment fact about a payment we never recorded.
    at = sent + timedelta(minutes=5)
    missing = (Payment.objects.order_by("-id").values_list("pk", flat=True).first() or 0) + 10_000
    _post(
        "sandbox-payments",
        "unknown_payment",
        {
            "type": "payment.succeeded",
            "timestamp": at.isoformat(),
            "data": {
                "reference": f"payment:{missing}",
                "id": f"sbx_pay_{missing:06d}",
                "amount": 4_990,
                "currency": "BRL",
            },
        },
    )
    webhook_event_process(event_id=_event("unknown_payment").pk)
    # failed (will retry): the carrier names a tracking code that is not the shipment's.
    at = sent + timedelta(minutes=6)
    mismatch = in_transit[2]
    _post(
        "sandbox-shipping",
        "tracking_mismatch",
        _tracking(mismatch, ShipmentStatus.DELIVERED, at, code=f"SB{mismatch.pk + 7:09d}BR"),
    )
    webhook_event_process(event_id=_event("tracking_mismatch").pk)
    # dead: the carrier keeps naming a tracking code that is not the shipment's; every attempt
    # fails the same way until the inbox gives up.
    at = sent + timedelta(minutes=7)
    wrong = in_transit[3]
    _post(
        "sandbox-shipping",
        "unknown_status",
        _tracking(wrong, ShipmentStatus.DELIVERED, at, code=f"SB{wrong.pk + 11:09d}BR"),
    )
    dead = _event("unknown_status")
    for _ in range(settings.WEBHOOK_MAX_ATTEMPTS + 1):
        if webhook_event_process(event_id=dead.pk).status == WebhookEvent.Status.DEAD:
            break
        # The backoff's wait, passed at once.
        WebhookEvent.objects.filter(pk=dead.pk, status=WebhookEvent.Status.FAILED).update(
            next_attempt_at=timezone.now()
        )
    # processed, and put on finance's reconciliation list: the provider's amount is not ours.
    paid = (
        Payment.objects.filter(provider="sandbox", status=PaymentStatus.SUCCEEDED)
        .order_by("id")
        .first()
    )
    if paid is not None:
        _post(
            "sandbox-payments",
            "amount_mismatch",
            {
                "type": "payment.succeeded",
                "timestamp": (sent + timedelta(minutes=8)).isoformat(),
                "data": {
                    "reference": f"payment:{paid.pk}",
                    "id": paid.provider_payment_id,
                    "amount": paid.amount + 1_000,
                    "currency": paid.currency,
                },
            },
        )
        webhook_event_process(event_id=_event("amount_mismatch").pk)
    # Rejected: a forged signature, and a replayed delivery signed an hour ago.
    at = now - timedelta(minutes=12)
    forged = {
        "type": "payment.succeeded",
        "timestamp": at.isoformat(),
        "data": {"reference": "payment:1", "id": "sbx_pay_000001", "amount": 1, "currency": "BRL"},
    }
    _post(
        "sandbox-payments",
        "forged",
        forged,
        secret=FORGED_SECRET,
        remote_addr="203.0.113.7",
    )
    _post(
        "sandbox-payments",
        "stale",
        forged,
        signed_at=now - timedelta(hours=1),
        remote_addr="198.51.100.23",
    )


# Provider calls ----------------------------------------------------------------------------


class _ScriptedTransport(BaseAdapter):
    """Stands in for a provider's server: answers each request as ``answer`` says (a status code
    and reason, or an exception to raise as ``requests`` would)."""

    def __init__(self) -> None:
        super().__init__()
        self.answer: Callable[[requests.PreparedRequest], tuple[int, str] | Exception]
        self.answer = lambda request: (200, "OK")

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        answer = self.answer(request)
        if isinstance(answer, Exception):
            raise answer
        response = requests.Response()
        response.status_code, response.reason = answer
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response._content = b"{}"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def _read_timeout(request: requests.PreparedRequest) -> Exception:
    host = urlsplit(request.url or "").hostname or ""
    seconds = settings.OUTBOUND_READ_TIMEOUT_SECONDS
    error = ReadTimeoutError(
        HTTPSConnectionPool(host, 443), request.url, f"Read timed out. (read timeout={seconds})"
    )
    return requests.ReadTimeout(error, request=request)


def _client_for(provider: str, base_url: str) -> tuple[ProviderClient, _ScriptedTransport]:
    transport = _ScriptedTransport()
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", transport)
    session.mount("http://", transport)
    return ProviderClient(
        provider, base_url, session=session, sleep=lambda seconds: None
    ), transport


def _answers(*answers: tuple[int, str] | str) -> Callable[..., tuple[int, str] | Exception]:
    """One answer per attempt, the last repeated: ``"timeout"`` or (status, reason)."""
    queue = list(answers)

    def answer(request: requests.PreparedRequest) -> tuple[int, str] | Exception:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        return _read_timeout(request) if current == "timeout" else current  # type: ignore[return-value]

    return answer


def _outage_order(customer: Customer, at: datetime, provider: str, method: str) -> Payment:
    order = order_place(
        customer=customer,
        currency="BRL",
        lines=OUTAGE_LINES,
        placed_at=at,
        shipping_address=demo_address(customer),
    )
    return payment_create(order=order, provider=provider, method=method, occurred_at=at)


def _deliver(payment: Payment, status: str, *, attempts: int, error: str = "") -> None:
    """The outbox row of the order's ``payments.start_payment``, as the relay leaves it."""
    event = DomainEvent.objects.get(type="order.placed", subject_id=str(payment.order_id))
    now = timezone.now()
    Delivery.objects.create(
        event=event,
        subscriber="payments.start_payment",
        status=status,
        attempts=attempts,
        next_attempt_at=now + timedelta(minutes=5) if status == Delivery.Status.FAILED else None,
        last_error=error,
        created_at=event.recorded_at,
        completed_at=None if status == Delivery.Status.FAILED else now,
    )


def _relay_error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _call(
    client: ProviderClient,
    transport: _ScriptedTransport,
    answer: Callable[..., Any],
    payment: Payment,
    *,
    operation: str,
    path: str,
) -> Exception | None:
    transport.answer = answer
    try:
        client.request(
            operation,
            "POST",
            path,
            data={},
            idempotency_key=f"payment:{payment.pk}",
            subject=payment,
        )
    except (ProviderRejected, ProviderUnavailable) as exc:
        return exc
    return None


def _seed_provider_calls(now: datetime) -> None:
    customers = list(Customer.objects.order_by("id")[:MAX_OUTAGE_ORDERS])
    if not customers:
        return
    placed = now - timedelta(hours=2)
    stripe, stripe_server = _client_for("stripe", settings.STRIPE_API_BASE)
    # Stripe: a payment, one after a 429, a card declined (402), then 503s until its breaker opens.
    script: list[tuple[Callable[..., Any], str]] = [
        (_answers((200, "OK")), "ok"),
        (_answers((429, "Too Many Requests"), (200, "OK")), "ok"),
        (_answers((402, "Payment Required")), "declined"),
    ]
    for i, (answer, _) in enumerate(script):
        payment = _outage_order(customers[i], placed + timedelta(minutes=i), "stripe", "card")
        error = _call(
            stripe,
            stripe_server,
            answer,
            payment,
            operation="create_payment",
            path="/v1/payment_intents",
        )
        if error is None:
            payment = payment_attach_provider_id(
                payment=payment, provider_payment_id=f"pi_demo{payment.pk:06d}"
            )
            payment_mark_succeeded(payment=payment, occurred_at=timezone.now())
            _deliver(payment, Delivery.Status.SUCCEEDED, attempts=1)
        else:
            reason = "stripe create_payment: card_error card_declined"
            payment_mark_failed(payment=payment, reason=reason, occurred_at=timezone.now())
            _deliver(payment, Delivery.Status.DEAD, attempts=1, error=f"ProviderRejected: {reason}")
    _until_open(
        stripe,
        stripe_server,
        customers,
        placed,
        "stripe",
        PaymentMethod.CARD,
        operation="create_payment",
        path="/v1/payment_intents",
        answer=_answers((503, "Service Unavailable")),
    )
    # Its cool-down has passed and a worker's trial call is out: half-open.
    cooldown = timedelta(seconds=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS)
    CircuitBreaker.objects.filter(provider="stripe", state=CircuitBreaker.State.OPEN).update(
        opened_at=timezone.now() - cooldown
    )
    breaker_permit("stripe")

    asaas, asaas_server = _client_for("asaas", settings.ASAAS_API_BASE)
    # Asaas: a Pix charge, one refused (400: no CPF/CNPJ), then timeouts until its breaker opens.
    payment = _outage_order(customers[3], placed + timedelta(minutes=30), "asaas", "pix")
    _call(
        asaas,
        asaas_server,
        _answers((200, "OK")),
        payment,
        operation="payment.create",
        path="payments",
    )
    payment = payment_attach_provider_id(
        payment=payment, provider_payment_id=f"pay_demo{payment.pk:06d}"
    )
    payment_mark_succeeded(payment=payment, occurred_at=timezone.now())
    _deliver(payment, Delivery.Status.SUCCEEDED, attempts=1)
    payment = _outage_order(customers[4], placed + timedelta(minutes=31), "asaas", "boleto")
    error = _call(
        asaas,
        asaas_server,
        _answers((400, "Bad Request")),
        payment,
        operation="payment.create",
        path="payments",
    )
    payment_mark_failed(payment=payment, reason=str(error), occurred_at=timezone.now())
    _deliver(payment, Delivery.Status.DEAD, attempts=1, error=_relay_error(error or Exception()))
    _until_open(
        asaas,
        asaas_server,
        customers,
        placed + timedelta(minutes=32),
        "asaas",
        PaymentMethod.PIX,
        operation="payment.create",
        path="payments",
        answer=_answers("timeout", (502, "Bad Gateway")),
    )
    # One more order while it is open: the call is refused before anything is sent.
    payment = _outage_order(customers[-1], placed + timedelta(minutes=50), "asaas", "pix")
    error = _call(
        asaas,
        asaas_server,
        _answers((200, "OK")),
        payment,
        operation="payment.create",
        path="payments",
    )
    _deliver(payment, Delivery.Status.FAILED, attempts=1, error=_relay_error(error or Exception()))


def _until_open(
    client: ProviderClient,
    transport: _ScriptedTransport,
    customers: list[Customer],
    placed: datetime,
    provider: str,
    method: str,
    *,
    operation: str,
    path: str,
    answer: Callable[..., Any],
) -> None:
    """Orders whose payment cannot be created while ``provider`` fails, until its breaker opens;
    each payment stays pending and its start_payment delivery failed (to be retried)."""
    for i in range(MAX_OUTAGE_ORDERS):
        if breaker_state(provider) == CircuitBreaker.State.OPEN:
            return
        customer = customers[(i + 5) % len(customers)]
        payment = _outage_order(customer, placed + timedelta(minutes=10 + i), provider, method)
        error = _call(client, transport, answer, payment, operation=operation, path=path)
        _deliver(
            payment, Delivery.Status.FAILED, attempts=1, error=_relay_error(error or Exception())
        )


def _seed_dead_notification() -> None:
    """A WhatsApp message to a number that is not on WhatsApp: the channel's refusal is terminal,
    so the relay leaves the delivery dead at its first attempt."""
    subscriber = get_subscriber(NOTIFY_SUBSCRIBER)
    types = sorted(subscriber.event_types) if subscriber else []
    event = DomainEvent.objects.filter(type__in=types).order_by("-occurred_at", "-id").first()
    if event is None:
        return
    exc = RecipientUnreachable(
        NOT_ON_WHATSAPP, provider="sandbox", operation="message.send", status_code=400
    )
    Delivery.objects.create(
        event=event,
        subscriber=NOTIFY_SUBSCRIBER,
        status=Delivery.Status.DEAD,
        attempts=1,
        next_attempt_at=None,
        last_error=_relay_error(exc),
        created_at=event.recorded_at,
        completed_at=timezone.now(),
    )
