"""Real flows against the fake providers, used twice: to capture a fixture folder (the webhooks
the flow received, exported with ``manage.py export_webhooks``) and to rebuild, in a test's
database, the rows a captured sequence refers to before it is replayed.

Each flow pays an order and refunds it in full. Our calls go to the fakes (Stripe, Asaas) or the
in-process sandbox provider; the webhooks are built from what the provider holds (the fake's own
PaymentIntent, Refund or payment JSON, the sandbox's owed ``SandboxWebhook`` rows) and POSTed,
signed, through the real receiver. The customer carries personal data that must not survive the
export.

``world.json`` in a captured folder names our rows and the provider's ids as they were during the
capture; ``world_substitutions`` maps them to the replaying test's own.

Regenerate the committed folders with ``REPLAY_CAPTURE=1 pytest
tests/integrations/test_replay_capture.py`` (see docs/replay.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from integrations.models import DomainEvent, SandboxWebhook
from integrations.webhooks.standard import standard_webhooks_headers
from orders.models import Order
from payments.models import Payment, Refund
from payments.services import refund_approve, refund_request
from payments.subscribers import execute_approved_refund, start_payment_for_order
from tests.factories import make_customer, make_order, make_staff, valid_cpf
from tests.payments.asaas.conftest import webhook_body
from tests.payments.stripe.conftest import load_event, signature
from tests.support.fake_asaas import FakeAsaas
from tests.support.fake_stripe import FakeStripe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "replay"
WORLD = "world.json"
EXPORT_KEY = "replay-fixtures-key-0001"  # fakes are reproducible across captures

# The capture customer's personal data: none of it may appear in an export.
PII = {
    "name": "Joana Prado Vasconcelos",
    "email": "joana.vasconcelos@mail.example.org",
    "phone": "+5511987651234",
    "cpf": valid_cpf(907),
    "line1": "Rua Doutor Quirino 1180",
    "city": "Campinas",
    "postal_code": "13015-081",
    "card_token": "b3f1c2d4-9e8a-4c7b-a1f0-5d6e7f8a9b0c",
}

Post = Callable[..., Any]


@dataclass(frozen=True)
class World:
    """Our rows and the provider's ids one sequence names."""

    payment_reference: str
    refund_reference: str
    provider_payment_id: str
    provider_refund_id: str

    @classmethod
    def of(cls, payment: Payment, refund: Refund) -> World:
        return cls(
            payment_reference=f"payment:{payment.pk}",
            refund_reference=f"refund:{refund.pk}",
            provider_payment_id=payment.provider_payment_id,
            provider_refund_id=refund.provider_refund_id or "",
        )

    @classmethod
    def load(cls, folder: Path) -> World:
        return cls(**json.loads((folder / WORLD).read_text()))

    def save(self, folder: Path) -> None:
        (folder / WORLD).write_text(json.dumps(asdict(self), indent=2) + "\n")


def world_substitutions(captured: World, ours: World) -> dict[str, str]:
    """Captured reference or id -> ours, longest first (``payment:1`` is a prefix of
    ``payment:12``, so each is matched with its closing quote)."""
    pairs = {}
    for name, old in asdict(captured).items():
        new = getattr(ours, name)
        if old and old != new:
            pairs[f'"{old}"'] = f'"{new}"'
            pairs[f' {old}"'] = f' {new}"'  # inside "Switchboard payment:17"
    return dict(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


def capture_customer() -> Any:
    return make_customer(
        name=PII["name"], email=PII["email"], phone=PII["phone"], tax_document=PII["cpf"]
    )


def placed(order: Order) -> Payment:
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    return Payment.objects.get(order=order)


def refund_in_full(payment: Payment) -> Refund:
    refund = refund_request(
        payment=payment, requested_by=make_staff("support-replay"), reason="other", amount=None
    )
    refund = refund_approve(refund=refund, approver=make_staff("finance-replay"))
    execute_approved_refund(
        DomainEvent.objects.get(type="refund.approved", subject_id=str(refund.pk))
    )
    refund.refresh_from_db()
    return refund


def export(provider: str, since: datetime, out: Path) -> None:
    call_command(
        "export_webhooks", provider=provider, since=since.isoformat(), out=str(out), key=EXPORT_KEY
    )


# --- Stripe ---------------------------------------------------------------------------------


def post_stripe(client: Any, capture_on_commit: Any, event: dict[str, Any]) -> None:
    body = json.dumps(event)
    with capture_on_commit(execute=True):
        response = client.post(
            "/webhooks/stripe/",
            data=body,
            content_type="application/json",
            headers={
                "Stripe-Signature": signature(body, secrets=tuple(settings.STRIPE_WEBHOOK_SECRETS))
            },
        )
    assert response.status_code == 200, response.content


def stripe_capture(*, client: Any, capture_on_commit: Any, fake: FakeStripe, out: Path) -> World:
    since = timezone.now() - timedelta(seconds=1)
    order = make_order(customer=capture_customer(), amount=5_000)
    payment = placed(order)
    (intent,) = fake.intents.values()
    now = int(time.time())
    succeeded = load_event("payment_intent.succeeded", event_id="evt_replay_1", created=now)
    # What Stripe adds to an intent whose checkout collected them (CONTRACTS §1: receipt_email).
    succeeded["data"]["object"] = {
        **intent,
        "receipt_email": PII["email"],
        "description": f"Order {order.number} for {PII['name']}",
        "shipping": {
            "name": PII["name"],
            "phone": PII["phone"],
            "address": {
                "line1": PII["line1"],
                "city": PII["city"],
                "postal_code": PII["postal_code"],
                "country": "BR",
            },
        },
    }
    post_stripe(client, capture_on_commit, succeeded)
    refund = refund_in_full(Payment.objects.get(pk=payment.pk))
    (stripe_refund,) = fake.refunds.values()
    for i, (name, status) in enumerate(
        [("refund.created", "pending"), ("refund.updated", "succeeded")]
    ):
        event = load_event(name, event_id=f"evt_replay_r{i}", created=now + 1 + i)
        event["data"]["object"] = {**stripe_refund, "status": status}
        post_stripe(client, capture_on_commit, event)
    export("stripe", since, out)
    world = World.of(Payment.objects.get(pk=payment.pk), refund)
    world.save(out)
    return world


# --- Asaas ----------------------------------------------------------------------------------


def post_asaas(client: Any, capture_on_commit: Any, body: dict[str, Any], token: str) -> None:
    with capture_on_commit(execute=True):
        response = client.post(
            "/webhooks/asaas/",
            data=json.dumps(body),
            content_type="application/json",
            headers={"asaas-access-token": token},
        )
    assert response.status_code == 200, response.content


def asaas_capture(
    *, client: Any, capture_on_commit: Any, fake: FakeAsaas, token: str, out: Path
) -> World:
    since = timezone.now() - timedelta(seconds=1)
    order = make_order(customer=capture_customer(), amount=10_000)
    payment = placed(order)
    paid = fake.pay(payment.provider_payment_id)
    # A card charge's payment carries the card block (number's last digits, brand, token).
    card = {
        "creditCardNumber": "8829",
        "creditCardBrand": "VISA",
        "creditCardToken": PII["card_token"],
    }
    received = webhook_body(
        "payment_received", event_id="evt_replay_asaas_1", **paid, creditCard=card
    )
    received["payment"]["description"] = f"{received['payment']['description']} ({PII['email']})"
    post_asaas(client, capture_on_commit, received, token)
    refund = refund_in_full(Payment.objects.get(pk=payment.pk))
    (done,) = fake.refunds_of(payment.provider_payment_id)
    fake.set_status(payment.provider_payment_id, "REFUNDED")
    refunded = webhook_body(
        "payment_refunded",
        event_id="evt_replay_asaas_2",
        **{
            **fake.payment_json(fake.payments[payment.provider_payment_id]),
            "creditCard": card,
            "refunds": [{**done, "value": float(done["value"]), "status": "DONE"}],
        },
    )
    post_asaas(client, capture_on_commit, refunded, token)
    export("asaas", since, out)
    world = World.of(Payment.objects.get(pk=payment.pk), refund)
    world.save(out)
    return world


# --- Sandbox --------------------------------------------------------------------------------


def deliver_owed_sandbox_webhooks(client: Any, capture_on_commit: Any, secret: str) -> int:
    """POST every webhook the sandbox owes, oldest due first, as its sender would (signed with
    ``secret``); marks them sent. Returns how many."""
    rows = list(
        SandboxWebhook.objects.filter(
            endpoint="sandbox-payments", status=SandboxWebhook.Status.PENDING
        ).order_by("due_at", "id")
    )
    for row in rows:
        headers = standard_webhooks_headers(
            secret=secret, msg_id=row.msg_id, body=row.body, at=datetime.now(tz=UTC)
        )
        with capture_on_commit(execute=True):
            response = client.post(
                f"/webhooks/{row.endpoint}/",
                data=row.body,
                content_type="application/json",
                headers=headers,
            )
        assert response.status_code == 200, response.content
        SandboxWebhook.objects.filter(pk=row.pk).update(status=SandboxWebhook.Status.SENT)
    return len(rows)


def sandbox_capture(*, client: Any, capture_on_commit: Any, secret: str, out: Path) -> World:
    since = timezone.now() - timedelta(seconds=1)
    order = make_order(customer=capture_customer(), amount=7_000)
    payment = placed(order)
    deliver_owed_sandbox_webhooks(client, capture_on_commit, secret)
    refund = refund_in_full(Payment.objects.get(pk=payment.pk))
    deliver_owed_sandbox_webhooks(client, capture_on_commit, secret)
    export("sandbox-payments", since, out)
    world = World.of(Payment.objects.get(pk=payment.pk), refund)
    world.save(out)
    return world
