"""Demo data: one staff user per role and customers whose timelines tell a story.

Everything is created through the services, so the demo exercises the same code paths (and the
same DomainEvents) as real traffic. Deterministic: a fixed seed, and a second run changes nothing.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from accounting.backfill import journal_backfill
from accounts.access.roles import ADMIN, ROLES, sync_roles
from accounts.crm.base import CrmChangeFact
from accounts.crm.services import crm_change_apply
from accounts.customers.services import (
    customer_create,
    customer_identifier_link,
    customer_note_add,
    customer_plan_activate,
)
from accounts.customers.validators import normalize_phone
from accounts.models import Customer, CustomerIdentifier, User
from config.demo_addresses import demo_address
from config.demo_operations import seed_operations
from integrations.events import recording_history
from integrations.models import DomainEvent
from notifications.models import Notification, NotificationChannel
from notifications.services import (
    notification_mark_delivered,
    notification_mark_failed,
    notification_mark_read,
    notification_mark_sent,
    notification_queue,
)
from orders.models import Order, OrderStatus
from orders.services import (
    OrderLineInput,
    order_cancel,
    order_place,
)
from payments.disputes import dispute_apply_fact
from payments.evidence.models import DisputeEvidence
from payments.models import DisputeStatus, Payment, PaymentMethod, PaymentStatus, RefundReason
from payments.services import (
    payment_create,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
    refund_approvals_needed,
    refund_approve,
    refund_mark_processing,
    refund_mark_succeeded,
    refund_reject,
    refund_request,
)
from payments.settlements.csv_import import settlement_csv_import
from payments.settlements.engine import settlements_match
from payments.settlements.models import CsvColumnMapping, Payout, PayoutStatus, SettlementLine
from payments.settlements.services import payouts_store, settlement_lines_store
from shipping.alerts import shipment_alerts_scan
from shipping.carriers.base import Quote
from shipping.models import Shipment, ShipmentStatus
from shipping.services import (
    shipment_apply_tracking,
    shipment_create,
    shipment_purchase_label,
    table_rate_upsert,
)
from usage.services import usage_record

DEMO_EMAIL_DOMAIN = "demo.switchboard.test"
DEMO_CUSTOMERS = 50
DEMO_ORDERS = 200
SEED = 20261121

FIRST_NAMES = [
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Eduarda",
    "Felipe",
    "Gabriela",
    "Henrique",
    "Isabela",
    "João",
    "Larissa",
    "Marcos",
    "Natália",
    "Otávio",
    "Paula",
    "Rafael",
    "Sofia",
    "Thiago",
    "Vanessa",
    "Yuri",
    "Beatriz",
    "Caio",
    "Daniela",
    "Enzo",
    "Fernanda",
]
LAST_NAMES = [
    "Souza",
    "Oliveira",
    "Santos",
    "Lima",
    "Pereira",
    "Costa",
    "Rodrigues",
    "Almeida",
    "Nascimento",
    "Carvalho",
    "Ribeiro",
    "Martins",
    "Rocha",
    "Barbosa",
    "Teixeira",
]
COMPANY_SUFFIXES = ["Comércio Ltda", "Distribuidora ME", "Importadora S.A."]
CATALOG = [
    ("CAF-250", "Specialty coffee 250 g", 4_990),
    ("CAF-1K", "Specialty coffee 1 kg", 15_900),
    ("MUG-01", "Ceramic mug", 5_900),
    ("GRN-02", "Burr grinder", 42_900),
    ("FLT-10", "Paper filters (100)", 1_890),
    ("KTL-05", "Gooseneck kettle", 38_900),
    ("SUB-MO", "Monthly coffee subscription", 8_990),
]
FEATURES = ["reports", "subscriptions", "wishlist", "gift cards", "order tracking", "reviews"]
# (outcome, weight): every order status and the refund states finance works on.
OUTCOMES = [
    ("placed", 14),
    ("payment_failed", 8),
    ("cancelled", 10),
    ("paid", 14),
    ("fulfilling", 14),
    ("shipped", 18),
    ("in_transit", 20),
    ("delivered", 56),
    ("delivered_refund_requested", 14),
    ("delivered_refund_rejected", 6),
    ("delivered_partially_refunded", 10),
    ("refunded", 16),
]


@dataclass(frozen=True)
class SeedResult:
    created: bool
    customers: int
    orders: int
    events: int


def _check_digits(base: list[int], weights_start: int) -> int:
    remainder = sum(v * w for v, w in zip(base, range(weights_start, 1, -1), strict=False)) % 11
    return 0 if remainder < 2 else 11 - remainder


def _cpf(rng: random.Random) -> str:
    base = [rng.randint(0, 9) for _ in range(9)]
    first = _check_digits(base, 10)
    second = _check_digits([*base, first], 11)
    return "".join(map(str, [*base, first, second]))


def _cnpj(rng: random.Random) -> str:
    base = [rng.randint(0, 9) for _ in range(8)] + [0, 0, 0, 1]
    weights1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    weights2 = [6, *weights1]
    r1 = sum(v * w for v, w in zip(base, weights1, strict=True)) % 11
    first = 0 if r1 < 2 else 11 - r1
    r2 = sum(v * w for v, w in zip([*base, first], weights2, strict=True)) % 11
    second = 0 if r2 < 2 else 11 - r2
    return "".join(map(str, [*base, first, second]))


def _phone(rng: random.Random) -> str:
    area = rng.choice(["11", "21", "31", "41", "51", "61", "71", "81"])
    return normalize_phone(f"+55{area}9{rng.randint(6, 9)}{rng.randint(0, 9_999_999):07d}")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _ensure_staff() -> None:
    sync_roles()
    for role in ROLES:
        user, _ = User.objects.get_or_create(
            username=role,
            defaults={
                "email": f"{role}@{DEMO_EMAIL_DOMAIN}",
                "first_name": role.capitalize(),
                "last_name": "Demo",
                "is_staff": True,
                "is_superuser": role == ADMIN,
            },
        )
        if not user.check_password(settings.DEMO_PASSWORD):
            user.set_password(settings.DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))


DEMO_LIFECYCLE_STAGES = ("lead", "opportunity", "customer")


def _demo_crm(customer: Customer, i: int, start: datetime) -> None:
    """What HubSpot said about a linked demo customer (docs/crm.md): a lifecycle stage and an
    owner, and for the first one a won deal's plan (no random draw: the seed stays the same)."""
    contact_id = str(90_000_000 + i)
    at = start + timedelta(days=1 + i % 20)
    for field, value in (
        ("lifecycle_stage", DEMO_LIFECYCLE_STAGES[i % 3]),
        ("owner", str(700 + i % 2)),
    ):
        crm_change_apply(fact=CrmChangeFact("hubspot", contact_id, field, value, at))
    if i == 0:
        customer_plan_activate(
            customer=customer, plan="Pro annual", activated_at=at, source="hubspot deal demo"
        )


def _demo_customers(rng: random.Random, start: datetime) -> list[Customer]:
    customers = []
    for i in range(DEMO_CUSTOMERS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        is_company = i % 10 == 9
        name = f"{last} {rng.choice(COMPANY_SUFFIXES)}" if is_company else f"{first} {last}"
        customer = customer_create(
            name=name,
            email=_ascii(f"{first}.{last}{i}@{DEMO_EMAIL_DOMAIN}".lower()),
            phone=_phone(rng),
            tax_document=_cnpj(rng) if is_company else _cpf(rng),
        )
        customer_identifier_link(
            customer=customer,
            system=CustomerIdentifier.System.PRODUCT,
            external_id=f"usr_{1000 + i}",
        )
        if i % 3 == 0:
            customer_identifier_link(
                customer=customer,
                system=CustomerIdentifier.System.HUBSPOT,
                external_id=str(90_000_000 + i),
            )
            _demo_crm(customer, i, start)
        for _ in range(rng.randint(1, 4)):
            usage_record(
                customer=customer,
                name="feature_used",
                properties={"feature": rng.choice(FEATURES)},
                occurred_at=start
                + timedelta(days=rng.randint(0, 55), minutes=rng.randint(0, 1440)),
            )
        usage_record(
            customer=customer,
            name="signed_in",
            properties={"source": rng.choice(["web", "iOS app", "Android app"])},
            occurred_at=start + timedelta(days=rng.randint(0, 58)),
        )
        if i % 10 == 0:
            # An event the tracking plan does not list yet: it waits in the usage quarantine
            # until ops add dashboard_viewed to the plan and release it.
            usage_record(
                customer=customer,
                name="dashboard_viewed",
                properties={"widgets": rng.randint(1, 9)},
                occurred_at=start + timedelta(days=rng.randint(40, 58)),
            )
        customers.append(customer)
    return customers


def _not_after_now(at: datetime) -> datetime:
    """A follow-up (delivered, read) of a message sent just now has not happened yet: the seed
    records it as happening now rather than dating it in the future."""
    return min(at, timezone.now())


def _notify(
    rng: random.Random,
    customer: Customer,
    template: str,
    body: str,
    at: datetime,
    *,
    channel: str | None = None,
    order: Order | None = None,
) -> Notification:
    channel = channel or rng.choice([NotificationChannel.EMAIL, NotificationChannel.WHATSAPP])
    notification = notification_queue(
        customer=customer,
        order=order,
        channel=channel,
        template=template,
        subject=body if channel == NotificationChannel.EMAIL else "",
        body=body,
        occurred_at=at,
    )
    provider = "console" if channel == NotificationChannel.EMAIL else "sandbox"
    roll = rng.random()
    if roll < 0.04:
        return notification_mark_failed(
            notification=notification, error="Recipient unreachable", occurred_at=at
        )
    notification = notification_mark_sent(
        notification=notification,
        provider=provider,
        provider_message_id=f"msg_{notification.pk:06d}",
        occurred_at=_not_after_now(at + timedelta(seconds=2)),
    )
    if roll < 0.9:
        notification = notification_mark_delivered(
            notification=notification, occurred_at=_not_after_now(at + timedelta(seconds=20))
        )
    if roll < 0.5 and channel == NotificationChannel.WHATSAPP:
        notification = notification_mark_read(
            notification=notification,
            occurred_at=_not_after_now(at + timedelta(minutes=rng.randint(1, 90))),
        )
    return notification


def _pay(rng: random.Random, order: Order, at: datetime, *, fail: bool = False) -> Payment:
    method = rng.choice([PaymentMethod.CARD, PaymentMethod.PIX, PaymentMethod.BOLETO])
    payment = payment_create(
        order=order,
        provider="sandbox",
        method=method,
        provider_payment_id=f"sbx_pay_{order.pk:06d}",
        occurred_at=at,
    )
    if method == PaymentMethod.BOLETO:
        payment = payment_mark_processing(payment=payment, occurred_at=at + timedelta(minutes=5))
    if fail:
        return payment_mark_failed(
            payment=payment,
            reason="Card declined by the issuer",
            occurred_at=at + timedelta(minutes=6),
        )
    delay = timedelta(days=1) if method == PaymentMethod.BOLETO else timedelta(minutes=1)
    payment = payment_mark_succeeded(payment=payment, occurred_at=at + delay)
    _notify(
        rng,
        order.customer,
        "order_paid",
        f"Payment received for {order.number}",
        at + delay,
        order=order,
    )
    return payment


TRACKING_STEPS = [
    ShipmentStatus.POSTED,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.OUT_FOR_DELIVERY,
    ShipmentStatus.DELIVERED,
]
CITIES = [
    "São Paulo, SP",
    "Campinas, SP",
    "Rio de Janeiro, RJ",
    "Belo Horizonte, MG",
    "Curitiba, PR",
]


def _ship(rng: random.Random, order: Order, at: datetime, *, until: str) -> Shipment:
    shipment = shipment_create(order=order, carrier="sandbox", service="express", occurred_at=at)
    if until == "fulfilling":
        return shipment
    shipment = shipment_purchase_label(
        shipment=shipment,
        tracking_code=f"SB{order.pk:09d}BR",
        provider_shipment_id=f"sbx_shp_{order.pk:06d}",
        label_url=f"https://sandbox.invalid/labels/{order.pk}.pdf",
        occurred_at=at + timedelta(hours=2),
    )
    last = {"shipped": 1, "in_transit": 2, "delivered": 4}[until]
    when = at + timedelta(hours=6)
    for step in TRACKING_STEPS[:last]:
        when += timedelta(hours=rng.randint(4, 30))
        shipment = shipment_apply_tracking(
            shipment=shipment, status=step, occurred_at=when, location=rng.choice(CITIES)
        )
        if step in (ShipmentStatus.POSTED, ShipmentStatus.DELIVERED):
            label = "shipped" if step == ShipmentStatus.POSTED else "delivered"
            _notify(
                rng, order.customer, f"order_{label}", f"{order.number} {label}", when, order=order
            )
    return shipment


def _demo_order(
    rng: random.Random, customer: Customer, outcome: str, at: datetime, staff: dict[str, User]
) -> Order:
    picks = rng.sample(CATALOG, k=rng.randint(1, 3))
    lines = [OrderLineInput(sku, desc, rng.randint(1, 3), price) for sku, desc, price in picks]
    order = order_place(
        customer=customer,
        currency="BRL",
        lines=lines,
        shipping_amount=rng.choice([0, 1_990, 2_490]),
        placed_at=at,
        shipping_address=demo_address(customer),
    )
    _notify(
        rng,
        customer,
        "order_placed",
        f"We got your order {order.number}",
        at,
        channel=NotificationChannel.EMAIL,
        order=order,
    )
    if outcome == "placed":
        return order
    if outcome == "cancelled":
        order_cancel(
            order=order, reason="Customer changed their mind", occurred_at=at + timedelta(hours=3)
        )
        return order
    payment = _pay(rng, order, at + timedelta(minutes=2), fail=outcome == "payment_failed")
    if outcome in ("payment_failed", "paid"):
        return order
    until = {"fulfilling": "fulfilling", "shipped": "shipped", "in_transit": "in_transit"}.get(
        outcome, "delivered"
    )
    _ship(rng, order, at + timedelta(days=1), until=until)
    if outcome == "refunded" or outcome.startswith("delivered_"):
        _demo_refund(rng, order, payment, outcome, staff)
    return order


def _demo_refund(
    rng: random.Random, order: Order, payment: Payment, outcome: str, staff: dict[str, User]
) -> None:
    """A refund in the state ``outcome`` names. Above the dual-approval threshold support asks
    and two finance approvers (finance, admin) decide; a pending one then has one approval."""
    partial = outcome == "delivered_partially_refunded"
    amount = payment.amount // 2 if partial else payment.amount
    needs_two = amount > settings.REFUND_DUAL_APPROVAL_THRESHOLD
    requester = staff["support"] if rng.random() < 0.6 or needs_two else staff["finance"]
    approvers = [u for u in (staff["finance"], staff["admin"]) if u != requester]
    refund = refund_request(
        payment=payment,
        requested_by=requester,
        reason=rng.choice(RefundReason.values),
        amount=amount,
        note="Customer called support.",
    )
    if outcome == "delivered_refund_requested":
        if needs_two:  # one of two approvals given: finance's queue shows "1 of 2"
            refund_approve(refund=refund, approver=approvers[0], reauthenticated_at=timezone.now())
        return
    if outcome == "delivered_refund_rejected":
        refund_reject(refund=refund, approver=approvers[0], reason="Outside the return window.")
        return
    for approver in approvers[: refund_approvals_needed(refund=refund)]:
        refund = refund_approve(refund=refund, approver=approver, reauthenticated_at=timezone.now())
    refund = refund_mark_processing(refund=refund, provider_refund_id=f"sbx_re_{refund.pk:06d}")
    refund_mark_succeeded(refund=refund)
    _notify(
        rng,
        order.customer,
        "refund_succeeded",
        f"Your refund for {order.number} is on its way",
        timezone.now(),
        order=order,
    )


DEMO_DISPUTES = [
    # (status, reason, evidence due in)
    (DisputeStatus.NEEDS_RESPONSE, "fraudulent", timedelta(days=7)),
    (DisputeStatus.NEEDS_RESPONSE, "product_not_received", timedelta(days=3)),
    (DisputeStatus.UNDER_REVIEW, "duplicate", timedelta(days=12)),
]


def _demo_disputes(now: datetime) -> None:
    """Chargebacks on a few delivered, unrefunded orders, as the sandbox provider reports them."""
    payments = (
        Payment.objects.filter(
            provider="sandbox",
            status=PaymentStatus.SUCCEEDED,
            order__status=OrderStatus.DELIVERED,
            refunds__isnull=True,
        )
        .select_related("order__customer")
        .order_by("id")[: len(DEMO_DISPUTES)]
    )
    for payment, (status, reason, due_in) in zip(payments, DEMO_DISPUTES, strict=False):
        dispute_apply_fact(
            payment=payment,
            provider="sandbox",
            provider_dispute_id=f"sbx_dp_{payment.pk:06d}",
            status=status,
            amount=payment.amount,
            currency=payment.currency,
            reason=reason,
            evidence_due_by=now + due_in,
            occurred_at=now - timedelta(hours=5),
        )
    first = payments[0].disputes.first() if payments else None
    if first is not None:
        # Finance has started on the first one: a draft, not submitted.
        order = first.payment.order
        DisputeEvidence.objects.get_or_create(
            dispute=first,
            defaults={
                "product_description": f"Order {order.number}, delivered",
                "customer_name": order.customer.name,
                "customer_email_address": order.customer.email,
                "uncategorized_text": "Delivered to the customer's address; see the tracking.",
            },
        )


def _demo_settlements(now: datetime) -> None:
    """A week of sandbox payments paid out to the bank (settlement lines and their payout), and
    the bank's statement of that payout uploaded with a CSV column mapping."""
    payments = list(
        Payment.objects.filter(provider="sandbox", status=PaymentStatus.SUCCEEDED)
        .exclude(succeeded_at=None)
        .order_by("-succeeded_at")[:20]
    )
    if not payments:
        return
    payout_id = f"sbx_po_{now:%Y%m%d}"
    lines = []
    for payment in payments:
        fee = payment.fee_amount or 0
        lines.append(
            SettlementLine(
                provider="sandbox",
                provider_line_id=f"sbx_txn_{payment.pk:06d}",
                kind="charge",
                provider_type="charge",
                amount=payment.amount,
                fee=fee,
                net=payment.amount - fee,
                currency=payment.currency,
                source_id=payment.provider_payment_id,
                payout_id=payout_id,
                created_at=payment.succeeded_at or now,
            )
        )
    total = sum(line.net for line in lines)
    settlement_lines_store(lines)
    payouts_store(
        [
            Payout(
                provider="sandbox",
                provider_payout_id=payout_id,
                amount=total,
                currency=lines[0].currency,
                arrival_date=(now + timedelta(days=1)).date(),
                status=PayoutStatus.PAID,
                provider_status="paid",
                created_at=now,
            )
        ]
    )
    mapping = CsvColumnMapping.objects.create(
        name="Banco demo (CSV)",
        provider="bank-demo",
        delimiter=";",
        date_column="Data",
        date_format="%d/%m/%Y",
        amount_column="Valor",
        fixed_currency="BRL",
        reference_column="Histórico",
        decimal_separator=",",
    )
    arrival = now + timedelta(days=1)
    amount = f"{total // 100},{total % 100:02d}"
    statement = (
        "Data;Histórico;Valor\n"
        f"{arrival:%d/%m/%Y};SANDBOX PAYOUT {payout_id};{amount}\n"
        f"{arrival:%d/%m/%Y};TARIFA PACOTE SERVICOS;-39,90\n"
    )
    settlement_csv_import(mapping, statement.encode())
    # The matching engine, as the daily import job runs it: lines to payments by id, the bank
    # line to the payout by the seeded statement rule.
    settlements_match()


def _demo_table_rates() -> None:
    """The sandbox carrier's prices to a few destinations, as its quotes would have kept them:
    what quotes answer with when no carrier answers in time."""
    for postal_code, extra in (("01310-100", 0), ("20271-130", 450), ("30130-010", 700)):
        for grams in (300, 1000, 5000):
            weight_extra = grams // 250 * 100
            for service, base, days in (("economy", 1890, 8), ("express", 3490, 2)):
                table_rate_upsert(
                    carrier="sandbox",
                    quote=Quote(
                        service=service,
                        amount=base + extra + weight_extra,
                        currency="BRL",
                        days=days,
                    ),
                    destination_postal_code=postal_code,
                    weight_grams=grams,
                )


def seed_demo() -> SeedResult:
    """Create the demo staff and data once, then what the operations screens show
    (``config.demo_operations``); later runs only re-assert the staff logins. Runs outside any
    transaction of the caller's: the provider calls commit on their own."""
    created = _seed_story()
    seed_operations(now=timezone.now())
    customers = Customer.objects.filter(email__endswith=f"@{DEMO_EMAIL_DOMAIN}")
    return SeedResult(
        created=created,
        customers=customers.count(),
        orders=Order.objects.filter(customer__in=customers).count(),
        events=DomainEvent.objects.filter(customer__in=customers).count(),
    )


def _seed_story() -> bool:
    """The staff, customers and their history; False when they were already there."""
    with transaction.atomic(), recording_history():
        _ensure_staff()
        if Customer.objects.filter(email__endswith=f"@{DEMO_EMAIL_DOMAIN}").exists():
            return False
        rng = random.Random(SEED)  # noqa: S311 - demo data, not security
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(days=60)
        staff = {u.username: u for u in User.objects.filter(username__in=ROLES)}
        customers = _demo_customers(rng, start)
        outcomes = [o for o, weight in OUTCOMES for _ in range(weight)]
        assert len(outcomes) == DEMO_ORDERS
        rng.shuffle(outcomes)
        for i, outcome in enumerate(outcomes):
            customer = (
                customers[i % DEMO_CUSTOMERS] if i < DEMO_CUSTOMERS else rng.choice(customers)
            )
            placed_at = start + timedelta(days=rng.randint(0, 50), minutes=rng.randint(0, 1439))
            _demo_order(rng, customer, outcome, placed_at, staff)
        _demo_disputes(now)
        _demo_settlements(now)
        journal_backfill()  # the journal of all that money (docs/accounting.md)
        shipment_alerts_scan(now=now)  # late and troubled parcels on the ops list
        _demo_table_rates()
        for customer in customers[:15]:
            customer_note_add(
                customer=customer,
                author=staff[rng.choice(["support", "sales"])],
                body=rng.choice(
                    [
                        "Prefers WhatsApp over e-mail.",
                        "Asked about the annual subscription plan; follow up next month.",
                        "VIP: ships to the office address on weekdays.",
                        "Had a damaged mug last time; we sent a replacement.",
                    ]
                ),
            )
    return True
