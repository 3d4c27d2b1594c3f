"""``manage.py seed_scale --orders N``: a large, realistic data set for measuring the admin.

Rows are built in memory in chunks and written with ``bulk_create`` (explicit primary keys, so
foreign keys are computed, not read back); no service runs, so no DomainEvent is dispatched, no
Delivery is relayed and no provider is called. Proportions per order follow the issue's
measurement (200,000 customers, 5,000,000 timeline events, 1,000,000 inbox rows and 500,000
provider calls for 1,000,000 orders), scaled to N. Every generated value is valid: money in
integer minor units, aware UTC times in the last two years and never in the future, unique
numbers, provider ids, tracking codes, e-mails, phones and CPFs.

Works on both profiles (whatever ``DATABASE_URL`` names) and adds to what is there: ids continue
after the largest existing one.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import AuditLogEntry, Customer, CustomerIdentifier, CustomerNote, User
from integrations.deliveries.registry import registered_subscribers
from integrations.models import (
    CircuitBreaker,
    Delivery,
    DomainEvent,
    ProviderCall,
    WebhookEvent,
    WebhookRejection,
)
from notifications.models import Notification
from orders.models import Order, OrderLine
from payments.models import (
    Dispute,
    Payment,
    ReconciliationException,
    Refund,
)
from shipping.models import Shipment

TWO_YEARS = timedelta(days=730)
CHUNK = 5_000
BATCH = 500
SEED_USERNAME = "scale-seed"

FIRST_NAMES = [
    "Ana",
    "Bruno",
    "Carla",
    "Daniel",
    "Eduarda",
    "Felipe",
    "Gabriela",
    "Henrique",
    "Isabela",
    "João",
    "Júlia",
    "Lucas",
    "Mariana",
    "Mateus",
    "Natália",
    "Otávio",
    "Paula",
    "Rafael",
    "Sofia",
    "Thiago",
    "Vitória",
    "Wesley",
    "Yasmin",
    "Caio",
    "Beatriz",
    "Diego",
    "Fernanda",
    "Gustavo",
    "Helena",
    "Igor",
    "Larissa",
    "Marcelo",
    "Nicole",
    "Pedro",
    "Renata",
    "Samuel",
    "Tatiana",
    "Vinícius",
]
LAST_NAMES = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
]
SKUS = [(f"SKU-{n:04d}", f"Product {n}", 1_990 + 1_000 * (n % 37)) for n in range(1, 201)]

# Order status -> share of orders (every status appears).
ORDER_STATUSES = [
    ("delivered", 55),
    ("shipped", 8),
    ("fulfilling", 3),
    ("paid", 7),
    ("placed", 7),
    ("cancelled", 12),
    ("refunded", 8),
]
PAYMENT_PROVIDERS = [("sandbox", "pay_sbx_"), ("stripe", "pi_"), ("asaas", "pay_")]
CARRIERS = ["sandbox", "melhor_envio", "easypost"]
WEBHOOK_PROVIDERS = [
    ("sandbox-payments", "payment.succeeded"),
    ("sandbox-payments", "payment.failed"),
    ("stripe", "payment_intent.succeeded"),
    ("stripe", "charge.refunded"),
    ("asaas", "PAYMENT_RECEIVED"),
    ("sandbox-shipping", "tracking.updated"),
    ("sandbox-messages", "message.delivered"),
]
WEBHOOK_STATUSES = [
    ("processed", 90),
    ("ignored", 3),
    ("failed", 2),
    ("dead", 1),
    ("received", 3),
    ("processing", 1),
]
CALL_OUTCOMES = [
    ("success", 90),
    ("http_error", 4),
    ("timeout", 3),
    ("connection_error", 2),
    ("circuit_open", 1),
]
CALL_OPERATIONS = [
    ("sandbox", "create_payment"),
    ("stripe", "create_payment"),
    ("asaas", "create_payment"),
    ("stripe", "refund"),
    ("sandbox-shipping", "buy_label"),
    ("sandbox-shipping", "track"),
    ("email", "send"),
]
USAGE_FEATURES = ["reports", "export", "checkout", "dashboard", "search", "api"]


PARENTS_FIRST: list[type[models.Model]] = [
    Customer,
    CustomerIdentifier,
    CustomerNote,
    Order,
    OrderLine,
    Payment,
    Refund,
    Dispute,
    ReconciliationException,
    Shipment,
    Notification,
    DomainEvent,
    Delivery,
    WebhookEvent,
    WebhookRejection,
    ProviderCall,
    AuditLogEntry,
]


def weighted(choices: list[tuple[str, int]], rng: random.Random) -> Callable[[], str]:
    values = [value for value, _ in choices]
    weights = [weight for _, weight in choices]
    return lambda: rng.choices(values, weights)[0]


def cpf(number: int) -> str:
    """A valid CPF (check digits computed) from a 9-digit base."""
    digits = [int(c) for c in f"{number % 1_000_000_000:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True))
        digits.append((total * 10 % 11) % 10)
    return "".join(map(str, digits))


class Progress:
    """One line on stderr per phase: ``orders [#####.....] 52% 104,000/200,000 12.3 s``."""

    def __init__(self, label: str, total: int, *, stream: Any = sys.stderr) -> None:
        self.label, self.total, self.done, self.stream = label, max(total, 1), 0, stream
        self.started = time.monotonic()
        self._draw()

    def add(self, n: int) -> None:
        self.done += n
        self._draw()

    def _draw(self, end: str = "") -> None:
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 30)
        elapsed = time.monotonic() - self.started
        self.stream.write(
            f"\r{self.label:<14} [{bar:<30}] {share:4.0%} {self.done:,}/{self.total:,} "
            f"{elapsed:6.1f} s{end}"
        )
        self.stream.flush()

    def close(self) -> None:
        self._draw("\n")


@contextmanager
def explicit_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Lets bulk_create keep the generated ``created_at``-style values: auto_now and
    auto_now_add would otherwise stamp every row with the time of seeding."""
    saved = []
    for model in model_classes:
        for field in model._meta.concrete_fields:
            if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
                saved.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def next_id(model: type[models.Model]) -> int:
    return int(model.objects.aggregate(top=Max("pk"))["top"] or 0) + 1  # type: ignore[attr-defined]


class Writer:
    """Buffers rows per model and writes them in chunks with one prepared INSERT run by
    ``executemany`` (no model instances: building them costs more than the insert), parents
    before children, each flush one transaction, so foreign keys hold at every commit. Values
    are given by attribute name (``customer_id``); fields left out take their default."""

    def __init__(self, progress: Progress, counted: type[models.Model]) -> None:
        self.rows: dict[type[models.Model], list[dict[str, Any]]] = {}
        self.progress, self.counted = progress, counted

    def add(self, model: type[models.Model], **values: Any) -> None:
        bucket = self.rows.setdefault(model, [])
        bucket.append(values)
        if len(bucket) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for model in sorted(self.rows, key=PARENTS_FIRST.index):
                bucket = self.rows[model]
                if bucket:
                    sql, converters = insert_statement(model)
                    cursor.executemany(
                        sql, [[convert(row) for convert in converters] for row in bucket]
                    )
                    if model is self.counted:
                        self.progress.add(len(bucket))
                    self.rows[model] = []


def insert_statement(model: type[models.Model]) -> tuple[str, list[Callable[[dict], Any]]]:
    """``INSERT INTO table (columns) VALUES (%s, ...)`` and, per column, a function taking a
    row's values to the database value (the field's default when the row leaves it out)."""
    quote = connection.ops.quote_name
    fields = list(model._meta.concrete_fields)
    converters: list[Callable[[dict], Any]] = []
    for field in fields:
        converters.append(column_converter(field))
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return (
        # Table and column names from the model's own metadata, values as parameters.
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})",  # noqa: S608  # nosec B608  # table and column names from model metadata; values bound
        converters,
    )


def column_converter(field: models.Field) -> Callable[[dict], Any]:
    name = field.attname
    primary = field.primary_key
    default = None if primary else field.get_default()
    if isinstance(field, models.DateTimeField):
        adapt = connection.ops.adapt_datetimefield_value
        return lambda row: adapt(row.get(name, default))
    if isinstance(field, (models.JSONField, models.GenericIPAddressField)):
        return lambda row: field.get_db_prep_save(row.get(name, default), connection)
    if name == "id" or primary:
        return lambda row: row.get("pk", row.get(name))
    return lambda row: row.get(name, default)


class Command(BaseCommand):
    help = "Bulk-generate a large realistic data set (orders, payments, inbox, ...) for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orders", type=int, required=True, help="How many orders to add.")
        parser.add_argument(
            "--customers", type=int, default=None, help="Default: a fifth of the orders."
        )
        parser.add_argument(
            "--events-per-order",
            type=float,
            default=5.0,
            help="Timeline (domain) events per order, usage events included (default 5).",
        )
        parser.add_argument(
            "--webhooks-per-order", type=float, default=1.0, help="Inbox rows per order."
        )
        parser.add_argument(
            "--calls-per-order", type=float, default=0.5, help="Provider calls per order."
        )
        parser.add_argument("--seed", type=int, default=20261201)

    def handle(self, *args: Any, **options: Any) -> None:
        n_orders: int = options["orders"]
        if n_orders < 1:
            self.stderr.write("--orders must be at least 1.")
            return
        n_customers: int = options["customers"] or max(n_orders // 5, 1)
        rng = random.Random(options["seed"])  # noqa: S311 - test data, not secrets
        self.now = timezone.now().replace(microsecond=0) - timedelta(seconds=1)
        self.rng = rng
        if connection.vendor == "sqlite" and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous=OFF")
        started = time.monotonic()
        self.user = self._seed_user()
        self.ct_payment = ContentType.objects.get_for_model(Payment)
        self.ct_order = ContentType.objects.get_for_model(Order)
        self.ct_shipment = ContentType.objects.get_for_model(Shipment)

        all_models = tuple(PARENTS_FIRST)
        with explicit_timestamps(*all_models):
            first_customer = self._customers(n_customers)
            self._orders(
                n_orders,
                first_customer=first_customer,
                n_customers=n_customers,
                events_per_order=options["events_per_order"],
            )
            self._inbox(int(n_orders * options["webhooks_per_order"]))
            self._calls(int(n_orders * options["calls_per_order"]))
            self._audit(max(n_orders // 20, 1))
        if connection.vendor == "postgresql":
            self._reset_sequences(all_models)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(
            f"Seeded {n_orders:,} orders and {n_customers:,} customers "
            f"in {time.monotonic() - started:.0f} s."
        )

    # Helpers ------------------------------------------------------------------------------

    def _seed_user(self) -> User:
        user, _ = User.objects.get_or_create(
            username=SEED_USERNAME, defaults={"email": "scale-seed@example.com", "is_staff": True}
        )
        return user

    def _time(self, oldest: timedelta = TWO_YEARS) -> datetime:
        return self.now - timedelta(seconds=self.rng.random() * oldest.total_seconds())

    def _after(self, when: datetime, *, max_minutes: float) -> datetime:
        later = when + timedelta(minutes=self.rng.random() * max_minutes)
        return min(later, self.now)

    def _reset_sequences(self, model_classes: tuple[type[models.Model], ...]) -> None:
        from django.core.management.color import no_style

        statements = connection.ops.sequence_reset_sql(no_style(), list(model_classes))
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    # Customers -----------------------------------------------------------------------------

    def _customers(self, count: int) -> int:
        rng = self.rng
        first = next_id(Customer)
        progress = Progress("customers", count, stream=self.stderr)
        writer = Writer(progress, Customer)
        ident_id = next_id(CustomerIdentifier)
        note_id = next_id(CustomerNote)
        for pk in range(first, first + count):
            first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            created = self._time()
            company = pk % 10 == 0
            writer.add(
                Customer,
                pk=pk,
                name=f"{first_name} {last_name}" + (" Ltda" if company else ""),
                email=f"{first_name}.{last_name}.{pk}@example.com".lower(),
                phone=f"+55{11 + pk % 80}9{pk % 100_000_000:08d}" if pk % 7 else "",
                tax_document=cpf(100_000_000 + pk) if pk % 5 else "",
                tax_document_type="cpf" if pk % 5 else "",
                created_at=created,
                updated_at=created,
            )
            if pk % 2 == 0:
                writer.add(
                    CustomerIdentifier,
                    pk=ident_id,
                    customer_id=pk,
                    system="stripe",
                    external_id=f"cus_scale{pk}",
                    created_at=created,
                )
                ident_id += 1
            if pk % 50 == 0:
                writer.add(
                    CustomerNote,
                    pk=note_id,
                    customer_id=pk,
                    author_id=self.user.pk,
                    body="Called about a late delivery; promised an update by e-mail.",
                    created_at=self._after(created, max_minutes=60 * 24 * 30),
                )
                note_id += 1
        writer.flush()
        progress.close()
        return first

    # Orders and everything hanging off them ------------------------------------------------

    def _orders(
        self, count: int, *, first_customer: int, n_customers: int, events_per_order: float
    ) -> None:
        rng = self.rng
        status_of = weighted(ORDER_STATUSES, rng)
        disputes_made = 0
        progress = Progress("orders", count, stream=self.stderr)
        writer = Writer(progress, Order)
        ids: dict[type[models.Model], int] = {
            model: next_id(model)
            for model in (
                Order,
                OrderLine,
                Payment,
                Refund,
                Dispute,
                ReconciliationException,
                Shipment,
                Notification,
                DomainEvent,
                Delivery,
            )
        }

        def take(model: type[models.Model]) -> int:
            value = ids[model]
            ids[model] += 1
            return value

        # Orders in time order (ids follow placement, as in production).
        offsets = sorted(rng.random() * TWO_YEARS.total_seconds() for _ in range(count))
        oldest = self.now - TWO_YEARS
        # One heavy customer (a reseller) and a heavy tail: customer index ~ n * u^3.
        whale = first_customer
        subscribers = [s.name for s in registered_subscribers()] or ["notifications"]
        # The events left for product usage after the order flow's own (about 4 per order).
        usage_share = max(events_per_order - 4.0, 0.0)

        def event(
            type_: str,
            customer_id: int,
            at: datetime,
            data: dict[str, Any],
            subject: tuple[ContentType, int, str] | None = None,
        ) -> int:
            pk = take(DomainEvent)
            subject_type, subject_id, label = subject or (None, 0, "")
            writer.add(
                DomainEvent,
                pk=pk,
                type=type_,
                kind=type_.split(".", 1)[0],
                occurred_at=at,
                recorded_at=at,
                customer_id=customer_id,
                subject_type_id=subject_type.pk if subject_type else None,
                subject_id=str(subject_id) if subject_type else "",
                subject_label=label,
                data=data,
            )
            return pk

        for offset in offsets:
            order_id = take(Order)
            placed = oldest + timedelta(seconds=offset)
            customer_id = first_customer + min(
                int(n_customers * rng.random() ** 3), n_customers - 1
            )
            status = status_of()
            number = f"SB-{order_id:06d}"
            lines = []
            for _ in range(1 + (rng.random() < 0.3)):
                sku, description, unit = rng.choice(SKUS)
                quantity = rng.randint(1, 3)
                lines.append((sku, description, quantity, unit))
            subtotal = sum(q * u for _, _, q, u in lines)
            shipping = rng.choice((0, 1_490, 2_290))
            total = subtotal + shipping
            currency = "BRL" if rng.random() < 0.95 else "USD"
            method = rng.choice(("card", "pix", "boleto"))
            changed = self._after(placed, max_minutes=60 * 24 * 10)
            writer.add(
                Order,
                pk=order_id,
                number=number,
                customer_id=customer_id,
                status=status,
                currency=currency,
                payment_method=method,
                subtotal_amount=subtotal,
                shipping_amount=shipping,
                total_amount=total,
                placed_at=placed,
                status_changed_at=changed,
                updated_at=changed,
                is_flagged=False,
            )
            for sku, description, quantity, unit in lines:
                writer.add(
                    OrderLine,
                    pk=take(OrderLine),
                    order_id=order_id,
                    sku=sku,
                    description=description,
                    quantity=quantity,
                    unit_amount=unit,
                    total_amount=quantity * unit,
                )
            order_subject = (self.ct_order, order_id, number)
            money = {"amount": total, "currency": currency}
            event(
                "order.placed",
                customer_id,
                placed,
                {"number": number, **money, "items": len(lines)},
                order_subject,
            )

            # Payments: an earlier failed attempt sometimes, then the one that decides.
            provider, prefix = rng.choice(PAYMENT_PROVIDERS)
            attempts = []
            if rng.random() < 0.08:
                attempts.append("failed")
            if status == "placed":
                attempts.append(rng.choice(("pending", "pending", "processing", "expired")))
            elif status == "cancelled":
                attempts.append(rng.choice(("cancelled", "failed", "expired")))
            else:
                attempts.append("succeeded")
            paid_payment = None
            for payment_status in attempts:
                payment_id = take(Payment)
                created = self._after(placed, max_minutes=5)
                succeeded = payment_status == "succeeded"
                refunded = total if status == "refunded" else 0
                writer.add(
                    Payment,
                    pk=payment_id,
                    order_id=order_id,
                    provider=provider,
                    provider_payment_id=f"{prefix}scale{payment_id}",
                    method=method,
                    status=payment_status,
                    amount=total,
                    currency=currency,
                    amount_refunded=refunded if succeeded else 0,
                    failure_reason="card_declined" if payment_status == "failed" else "",
                    created_at=created,
                    updated_at=created,
                    succeeded_at=self._after(created, max_minutes=30) if succeeded else None,
                )
                payment_subject = (self.ct_payment, payment_id, f"Payment #{payment_id}")
                base = {**money, "method": method, "provider": provider}
                event("payment.created", customer_id, created, base, payment_subject)
                if payment_status in ("succeeded", "failed", "cancelled", "expired"):
                    event(
                        f"payment.{payment_status}",
                        customer_id,
                        self._after(created, max_minutes=30),
                        {**base, "reason": "card_declined"},
                        payment_subject,
                    )
                if succeeded:
                    paid_payment = payment_id
            if paid_payment is not None:
                event("order.paid", customer_id, changed, {"number": number}, order_subject)
                writer.add(
                    Notification,
                    pk=take(Notification),
                    customer_id=customer_id,
                    channel="email",
                    template="order_paid",
                    recipient=f"customer{customer_id}@example.com",
                    subject=f"Order {number} paid",
                    body=f"We received your payment for {number}.",
                    status=rng.choice(("sent", "delivered", "delivered", "read", "failed")),
                    provider="sandbox",
                    provider_message_id=f"msg_scale{order_id}",
                    created_at=changed,
                    updated_at=changed,
                )

            # Refunds: every refunded order; a few disputes of the amount elsewhere.
            if paid_payment is not None and (status == "refunded" or rng.random() < 0.03):
                refund_status = (
                    "succeeded"
                    if status == "refunded"
                    else rng.choice(("requested", "approved", "rejected", "processing", "failed"))
                )
                refund_id = take(Refund)
                requested = self._after(changed, max_minutes=60 * 24 * 5)
                writer.add(
                    Refund,
                    pk=refund_id,
                    payment_id=paid_payment,
                    amount=total if status == "refunded" else max(total // 2, 1),
                    currency=currency,
                    reason=rng.choice(("requested_by_customer", "defective", "not_received")),
                    status=refund_status,
                    requested_by_id=self.user.pk,
                    decided_by_id=None if refund_status == "requested" else self.user.pk,
                    decided_at=None if refund_status == "requested" else requested,
                    provider_refund_id=(
                        f"re_scale{refund_id}"
                        if refund_status in ("succeeded", "processing", "failed")
                        else ""
                    ),
                    created_at=requested,
                    updated_at=requested,
                )
                event(
                    f"refund.{'requested' if refund_status == 'requested' else refund_status}",
                    customer_id,
                    requested,
                    {**money, "reason": "requested_by_customer"},
                )
            # About 0.5 % of paid orders, and always the first one: a table left empty has no
            # planner statistics after ANALYZE, and the disputes screen should show a row.
            if paid_payment is not None and (rng.random() < 0.005 or not disputes_made):
                disputes_made += 1
                dispute_id = take(Dispute)
                opened = self._after(changed, max_minutes=60 * 24 * 20)
                writer.add(
                    Dispute,
                    pk=dispute_id,
                    payment_id=paid_payment,
                    provider=provider,
                    provider_dispute_id=f"dp_scale{dispute_id}",
                    reason="fraudulent",
                    amount=total,
                    currency=currency,
                    status=rng.choice(("needs_response", "under_review", "won", "lost")),
                    opened_at=opened,
                    created_at=opened,
                    updated_at=opened,
                )
            if rng.random() < 0.002:
                recon_at = self._after(changed, max_minutes=60 * 24)
                writer.add(
                    ReconciliationException,
                    pk=take(ReconciliationException),
                    payment_id=paid_payment,
                    provider=provider,
                    kind=rng.choice(("amount_mismatch", "unknown_object", "paid_twice")),
                    detail=f"{number}: provider reported a different amount.",
                    provider_object_id=f"{prefix}scale{paid_payment or order_id}",
                    status=rng.choice(("open", "resolved")),
                    created_at=recon_at,
                )

            # Shipments for orders that left the warehouse.
            if status in ("fulfilling", "shipped", "delivered") or (
                status == "refunded" and rng.random() < 0.5
            ):
                shipment_id = take(Shipment)
                carrier = rng.choice(CARRIERS)
                created = self._after(changed, max_minutes=60 * 24)
                shipment_status = {
                    "fulfilling": rng.choice(("pending", "label_purchased")),
                    "shipped": rng.choice(("posted", "in_transit", "out_for_delivery")),
                    "delivered": "delivered",
                }.get(status, rng.choice(("returned", "delivery_failed", "cancelled")))
                has_label = shipment_status not in ("pending",)
                delivered = (
                    self._after(created, max_minutes=60 * 24 * 7)
                    if shipment_status == "delivered"
                    else None
                )
                tracking = f"SC{shipment_id:09d}BR" if has_label else ""
                writer.add(
                    Shipment,
                    pk=shipment_id,
                    order_id=order_id,
                    carrier=carrier,
                    service="SEDEX",
                    status=shipment_status,
                    tracking_code=tracking,
                    provider_shipment_id=f"shp_scale{shipment_id}" if has_label else "",
                    cost_amount=shipping or 1_490,
                    cost_currency=currency,
                    created_at=created,
                    updated_at=created,
                    delivered_at=delivered,
                )
                shipment_subject = (self.ct_shipment, shipment_id, tracking or carrier)
                event(
                    "shipment.created",
                    customer_id,
                    created,
                    {"order": number, "carrier": carrier},
                    shipment_subject,
                )
                if delivered is not None:
                    event(
                        "order.delivered", customer_id, delivered, {"number": number}, order_subject
                    )

            # Product usage: the heavy tail (the whale gets a share of its own).
            usage = int(usage_share) + (rng.random() < usage_share - int(usage_share))
            for _ in range(usage):
                owner = whale if rng.random() < 0.02 else customer_id
                event(
                    "usage.feature_used",
                    owner,
                    self._after(placed, max_minutes=60 * 24 * 30),
                    {"feature": rng.choice(USAGE_FEATURES)},
                )

            if rng.random() < 0.5:
                delivery_status = rng.choice(
                    ("succeeded",) * 16 + ("pending", "running", "failed", "dead")
                )
                writer.add(
                    Delivery,
                    pk=take(Delivery),
                    event_id=ids[DomainEvent] - 1,
                    subscriber=rng.choice(subscribers),
                    status=delivery_status,
                    attempts=1 if delivery_status != "pending" else 0,
                    next_attempt_at=placed if delivery_status in ("pending", "failed") else None,
                    last_error="timeout" if delivery_status in ("failed", "dead") else "",
                    created_at=placed,
                    completed_at=placed if delivery_status == "succeeded" else None,
                )
        writer.flush()
        progress.close()

    # Inbox, calls, audit --------------------------------------------------------------------

    def _inbox(self, count: int) -> None:
        rng = self.rng
        status_of = weighted(WEBHOOK_STATUSES, rng)
        progress = Progress("webhook inbox", count, stream=self.stderr)
        writer = Writer(progress, WebhookEvent)
        first = next_id(WebhookEvent)
        for pk in range(first, first + count):
            provider, event_type = rng.choice(WEBHOOK_PROVIDERS)
            received = self._time()
            status = status_of()
            object_id = f"pi_scale{pk}" if "payment" in event_type else f"SC{pk:09d}BR"
            body = json.dumps(
                {
                    "id": f"evt_scale{pk}",
                    "type": event_type,
                    "created": int(received.timestamp()),
                    "data": {"object": {"id": object_id, "amount": 19_990, "currency": "brl"}},
                    "padding": "x" * rng.randint(200, 1_500),
                }
            )
            finished = status in ("processed", "ignored", "dead")
            writer.add(
                WebhookEvent,
                pk=pk,
                provider=provider,
                event_id=f"evt_scale{pk}",
                event_type=event_type,
                headers={"content-type": "application/json", "webhook-id": f"evt_scale{pk}"},
                body=body,
                received_at=received,
                occurred_at=received - timedelta(seconds=rng.randint(0, 30)),
                status=status,
                attempts=0 if status == "received" else (5 if status == "dead" else 1),
                next_attempt_at=None if finished else received,
                claimed_at=received if status == "processing" else None,
                processed_at=received if finished else None,
                object_id=object_id,
                last_error="ProviderUnavailable: 503" if status in ("failed", "dead") else "",
                traceback="Traceback (most recent call last):\n  ...\n" * 20
                if status in ("failed", "dead")
                else "",
            )
        rejections = max(count // 1_000, 1)
        first_rejection = next_id(WebhookRejection)
        for pk in range(first_rejection, first_rejection + rejections):
            writer.add(
                WebhookRejection,
                pk=pk,
                provider=rng.choice(WEBHOOK_PROVIDERS)[0],
                reason="bad signature",
                status_code=401,
                remote_addr=f"203.0.113.{pk % 250 + 1}",
                headers={"content-type": "application/json"},
                body_sha256=f"{pk:064x}",
                body_size=512,
                received_at=self._time(),
            )
        writer.flush()
        progress.close()

    def _calls(self, count: int) -> None:
        rng = self.rng
        outcome_of = weighted(CALL_OUTCOMES, rng)
        progress = Progress("provider calls", count, stream=self.stderr)
        writer = Writer(progress, ProviderCall)
        first = next_id(ProviderCall)
        for provider in {p for p, _ in CALL_OPERATIONS}:
            CircuitBreaker.objects.get_or_create(provider=provider)
        for pk in range(first, first + count):
            provider, operation = rng.choice(CALL_OPERATIONS)
            outcome = outcome_of()
            writer.add(
                ProviderCall,
                pk=pk,
                provider=provider,
                operation=operation,
                method="POST",
                url=f"https://{provider}.example/v1/{operation}",
                status_code={"success": 200, "http_error": 502}.get(outcome),
                outcome=outcome,
                duration_ms=rng.randint(20, 3_000),
                attempt=1 if outcome == "success" else rng.randint(1, 3),
                idempotency_key=f"payment:scale{pk}",
                error="" if outcome == "success" else outcome,
                subject_type_id=self.ct_payment.pk,
                subject_id=str(pk),
                created_at=self._time(),
            )
        writer.flush()
        progress.close()

    def _audit(self, count: int) -> None:
        rng = self.rng
        progress = Progress("audit log", count, stream=self.stderr)
        writer = Writer(progress, AuditLogEntry)
        first = next_id(AuditLogEntry)
        actions = ["login", "admin_change", "refund_approved", "webhook_replay", "login_failed"]
        for pk in range(first, first + count):
            writer.add(
                AuditLogEntry,
                pk=pk,
                created_at=self._time(),
                action=rng.choice(actions),
                actor_id=self.user.pk,
                actor_label=SEED_USERNAME,
                object_type_id=self.ct_order.pk,
                object_id=str(pk),
                object_label=f"Order SB-{pk:06d}",
                ip="127.0.0.1",
            )
        writer.flush()
        progress.close()
