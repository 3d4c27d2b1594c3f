"""Test factories (factory-boy). Rows that have a service are built through it, so tests see the
events and audit entries the real code writes; ``create`` is the strategy they support. The
``make_*`` helpers are thin wrappers kept for the tests written before the factories."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from accounts.access.api_keys import api_key_create
from accounts.customers.services import customer_create, customer_note_add
from accounts.models import ApiKey, Customer, CustomerNote, User
from notifications.models import Notification, NotificationChannel
from notifications.services import notification_queue
from orders.models import Order, OrderStatus
from orders.services import OrderLineInput, order_place
from payments.models import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    Payout,
    ReconciliationException,
    Refund,
    RefundReason,
    SettlementLine,
)
from payments.services import (
    payment_cancel,
    payment_create,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
    refund_request,
)
from shipping.models import Shipment
from shipping.services import shipment_create

PASSWORD = "pw-for-tests-only"
# CPFs come from nine-digit numbers counted from here (never nine equal digits, which is invalid).
CPF_SEQUENCE_START = 100_000_001


def valid_cpf(n: int) -> str:
    """A valid CPF (check digits computed) from any number of up to nine digits."""
    digits = [int(c) for c in f"{n:09d}"[-9:]]
    for weights in (range(10, 1, -1), range(11, 1, -1)):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(map(str, digits))


class UserFactory(DjangoModelFactory[User]):
    """A user with a usable password (``PASSWORD``); ``roles=["finance", ...]`` adds the groups
    by name (created empty when missing; ``sync_roles`` gives them their permissions)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@switchboard.test")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(user: User, create: bool, extracted: Sequence[str] | None, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        for role in extracted:
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)


class StaffFactory(UserFactory):
    is_staff = True


class CustomerFactory(DjangoModelFactory[Customer]):
    """Through ``customer_create``: normalised phone and document, a ``customer.created`` event.
    ``cpf=True`` gives the customer a valid CPF of its own (what Asaas needs to charge)."""

    class Meta:
        model = Customer

    class Params:
        cpf = factory.Trait(
            tax_document=factory.Sequence(lambda n: valid_cpf(CPF_SEQUENCE_START + n))
        )

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    phone = ""
    tax_document = ""

    @classmethod
    def _create(cls, model_class: type[Customer], *args: Any, **kwargs: Any) -> Customer:
        return customer_create(**kwargs)


class OrderFactory(DjangoModelFactory[Order]):
    """Through ``order_place``: one line of ``amount`` minor units unless ``lines`` are given;
    the number (SB-000123) is the service's. ``paid=True`` pays it with a sandbox card payment
    through the payment services (``order.paid`` and the payment's events)."""

    class Meta:
        model = Order

    class Params:
        amount = 10_000
        paid = factory.Trait(status=OrderStatus.PAID)

    customer = factory.SubFactory(CustomerFactory)
    currency = "BRL"
    lines = factory.LazyAttribute(
        lambda order: [
            OrderLineInput(sku="SKU-1", description="Widget", quantity=1, unit_amount=order.amount)
        ]
    )
    status = OrderStatus.PLACED

    @classmethod
    def _create(
        cls, model_class: type[Order], *args: Any, status: str = OrderStatus.PLACED, **kwargs: Any
    ) -> Order:
        if status not in (OrderStatus.PLACED, OrderStatus.PAID):
            raise ValueError(f"OrderFactory builds placed or paid orders, not {status!r}.")
        order = order_place(**kwargs)
        if status == OrderStatus.PLACED:
            return order
        PaymentFactory.create(order=order, status=PaymentStatus.SUCCEEDED)
        order.refresh_from_db(fields=[f.attname for f in Order._meta.concrete_fields])
        return order


# How a pending payment reaches each status the factory builds, through the services.
_PAYMENT_TO: dict[str, Callable[[Payment], Payment]] = {
    PaymentStatus.PENDING: lambda payment: payment,
    PaymentStatus.PROCESSING: lambda payment: payment_mark_processing(payment=payment),
    PaymentStatus.SUCCEEDED: lambda payment: payment_mark_succeeded(payment=payment),
    PaymentStatus.FAILED: lambda payment: payment_mark_failed(
        payment=payment, reason="Declined by the sandbox."
    ),
    PaymentStatus.CANCELLED: lambda payment: payment_cancel(payment=payment),
}


class PaymentFactory(DjangoModelFactory[Payment]):
    """Through ``payment_create`` (the order's total, a sandbox card payment), then the status
    service that leads to ``status``: ``succeeded=True`` pays the order as a webhook would."""

    class Meta:
        model = Payment

    class Params:
        succeeded = factory.Trait(status=PaymentStatus.SUCCEEDED)

    order = factory.SubFactory(OrderFactory)
    provider = "sandbox"
    method = PaymentMethod.CARD
    status = PaymentStatus.PENDING

    @classmethod
    def _create(
        cls,
        model_class: type[Payment],
        *args: Any,
        status: str = PaymentStatus.PENDING,
        **kwargs: Any,
    ) -> Payment:
        if status not in _PAYMENT_TO:
            raise ValueError(f"PaymentFactory does not build {status!r} payments.")
        return _PAYMENT_TO[status](payment_create(**kwargs))


class RefundFactory(DjangoModelFactory[Refund]):
    """Through ``refund_request`` on a succeeded payment, by a support user: the refund waits
    for approval (``refund.requested`` event, audit entry). ``amount=None`` refunds it all."""

    class Meta:
        model = Refund

    payment = factory.SubFactory(PaymentFactory, succeeded=True)
    requested_by = factory.SubFactory(StaffFactory, roles=["support"])
    reason = RefundReason.REQUESTED_BY_CUSTOMER
    amount = None
    note = ""

    @classmethod
    def _create(cls, model_class: type[Refund], *args: Any, **kwargs: Any) -> Refund:
        return refund_request(**kwargs)


class SettlementLineFactory(DjangoModelFactory[SettlementLine]):
    """A settlement line as an import stores it (no service: imports write them set-based); a
    Stripe-like charge of 100.00 BRL with a 3.99 fee unless told otherwise."""

    class Meta:
        model = SettlementLine

    provider = "stripe"
    provider_line_id = factory.Sequence(lambda n: f"txn_test_{n:06d}")
    kind = "charge"
    provider_type = "charge"
    amount = 10_000
    fee = 399
    net = factory.LazyAttribute(lambda line: line.amount - line.fee)
    currency = "BRL"
    source_id = factory.Sequence(lambda n: f"ch_test_{n:06d}")
    created_at = factory.LazyFunction(lambda: datetime.now(tz=UTC))


class PayoutFactory(DjangoModelFactory[Payout]):
    class Meta:
        model = Payout

    provider = "stripe"
    provider_payout_id = factory.Sequence(lambda n: f"po_test_{n:06d}")
    amount = 9_601
    currency = "BRL"
    status = "paid"
    created_at = factory.LazyFunction(lambda: datetime.now(tz=UTC))


class ReconciliationExceptionFactory(DjangoModelFactory[ReconciliationException]):
    """An open exception as the matching engine writes it: a Stripe fee mismatch of R$ 1,50 on
    a settlement line unless told otherwise. ``age_days`` back-dates it (``created_at`` is
    set on insert)."""

    class Meta:
        model = ReconciliationException

    provider = "stripe"
    kind = ReconciliationException.Kind.FEE_MISMATCH
    detail = factory.LazyAttribute(lambda e: f"Fee differs by R$ 1,50 ({e.provider_object_id}).")
    provider_object_id = factory.Sequence(lambda n: f"txn_exc_{n:06d}")
    amount = 150
    currency = "BRL"

    @classmethod
    def _create(
        cls, model_class: type[ReconciliationException], *args: Any, age_days: int = 0, **kw: Any
    ) -> ReconciliationException:
        exception = super()._create(model_class, *args, **kw)
        if age_days:
            created = datetime.now(tz=UTC) - timedelta(days=age_days)
            model_class.objects.filter(pk=exception.pk).update(created_at=created)
            exception.created_at = created
        return exception


class ShipmentFactory(DjangoModelFactory[Shipment]):
    """Through ``shipment_create`` on a paid order, which moves the order to fulfilling."""

    class Meta:
        model = Shipment

    order = factory.SubFactory(OrderFactory, paid=True)
    carrier = "sandbox"
    service = "economy"
    cost_amount = 0

    @classmethod
    def _create(cls, model_class: type[Shipment], *args: Any, **kwargs: Any) -> Shipment:
        return shipment_create(**kwargs)


class NotificationFactory(DjangoModelFactory[Notification]):
    """Through ``notification_queue``: queued, to the customer's e-mail unless told otherwise."""

    class Meta:
        model = Notification

    customer = factory.SubFactory(CustomerFactory)
    channel = NotificationChannel.EMAIL
    template = "order_paid"
    subject = "Your order is paid"
    body = factory.Sequence(lambda n: f"Message {n}: thank you for your order.")

    @classmethod
    def _create(cls, model_class: type[Notification], *args: Any, **kwargs: Any) -> Notification:
        return notification_queue(**kwargs)


class CustomerNoteFactory(DjangoModelFactory[CustomerNote]):
    """Through ``customer_note_add``: a support user's note, on the timeline."""

    class Meta:
        model = CustomerNote

    customer = factory.SubFactory(CustomerFactory)
    author = factory.SubFactory(StaffFactory, roles=["support"])
    body = factory.Sequence(lambda n: f"Note {n}: called the customer back.")

    @classmethod
    def _create(cls, model_class: type[CustomerNote], *args: Any, **kwargs: Any) -> CustomerNote:
        return customer_note_add(**kwargs)


class ApiKeyFactory(DjangoModelFactory[ApiKey]):
    """Through ``api_key_create`` (audited); the raw key, shown once, is on ``key.raw_key``."""

    class Meta:
        model = ApiKey

    name = factory.Sequence(lambda n: f"API client {n}")
    scopes = factory.LazyFunction(lambda: [ApiKey.Scope.ORDERS_READ.value])
    created_by = None
    expires_at = None

    @classmethod
    def _create(cls, model_class: type[ApiKey], *args: Any, **kwargs: Any) -> ApiKey:
        key, raw_key = api_key_create(**kwargs)
        key.raw_key = raw_key  # type: ignore[attr-defined]
        return key


def make_staff(username: str, *, role: str | None = None, **fields: Any) -> User:
    return StaffFactory.create(username=username, roles=[role] if role else [], **fields)


def make_customer(**overrides: Any) -> Customer:
    return CustomerFactory.create(**overrides)


def make_asaas_customer(**overrides: Any) -> Customer:
    """A customer Asaas can charge: with a valid CPF of its own (unique per customer)."""
    return CustomerFactory.create(cpf=True, **overrides)


def make_order(*, customer: Customer | None = None, amount: int = 10_000, **kw: Any) -> Order:
    if customer is not None:
        kw["customer"] = customer
    return OrderFactory.create(amount=amount, **kw)


def make_paid_payment(*, order: Order | None = None, **kw: Any) -> Payment:
    """A succeeded payment; ``kw`` (customer, amount, currency, ...) place its order when none
    is given."""
    if order is None:
        return PaymentFactory.create(succeeded=True, **{f"order__{k}": v for k, v in kw.items()})
    return PaymentFactory.create(order=order, succeeded=True)


def events_for(obj: Any) -> Any:
    """The DomainEvents whose subject is ``obj``, oldest first."""
    from django.contrib.contenttypes.models import ContentType

    from integrations.models import DomainEvent

    return DomainEvent.objects.filter(
        subject_type=ContentType.objects.get_for_model(obj), subject_id=str(obj.pk)
    ).order_by("id")


def make_hub_order(
    *, customer: Customer | None = None, staff: User | None = None, extra: int = 0
) -> Order:
    """An order with something in every section of its page: a shipping address, a succeeded
    card payment (R$ 120,00) with a refund of R$ 10,00 requested and a dispute, a shipment with a
    label and two tracking scans, and a message about it. ``extra`` more payments, refunds,
    shipments (with scans) and messages, for query counts that must not grow with them."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.disputes import dispute_apply_fact
    from payments.models import DisputeStatus
    from shipping.models import TrackingStatus
    from shipping.services import shipment_purchase_label, shipment_record_tracking_event

    customer = customer or make_customer(name="Ana Souza")
    staff = staff or make_staff("hub-support", role="support")
    order = OrderFactory.create(customer=customer, amount=12_000)
    Order.objects.filter(pk=order.pk).update(
        ship_to_name="Ana Souza",
        ship_to_street="Rua Augusta",
        ship_to_number="1500",
        ship_to_district="Consolação",
        ship_to_city="São Paulo",
        ship_to_state="SP",
        ship_to_postal_code="01304001",
        ship_to_country="BR",
    )
    # With on-commit reactions running (browser tests), placing the order already started its
    # payment: that one is paid.
    payment = order.payments.order_by("id").first() or PaymentFactory.create(order=order)
    if payment.status != PaymentStatus.SUCCEEDED:
        payment = payment_mark_succeeded(payment=payment)
    refund_request(
        payment=payment,
        requested_by=staff,
        reason=RefundReason.DEFECTIVE,
        amount=1_000,
        note="Mug arrived chipped.",
    )
    now = timezone.now()
    dispute_apply_fact(
        payment=payment,
        provider="sandbox",
        provider_dispute_id=f"sbx_dp_{payment.pk:06d}",
        status=DisputeStatus.NEEDS_RESPONSE,
        amount=payment.amount,
        currency=payment.currency,
        reason="product_not_received",
        evidence_due_by=now + timedelta(days=7),
        occurred_at=now - timedelta(hours=1),
    )
    for n in range(1 + extra):
        shipment = shipment_create(order=order, carrier="sandbox", service="express")
        shipment = shipment_purchase_label(
            shipment=shipment, tracking_code=f"SB{order.pk:06d}{n:03d}BR"
        )
        for minutes, status, code, where in (
            (90, TrackingStatus.IN_TRANSIT, "OEE-21", "Campinas, SP"),
            (30, TrackingStatus.OUT_FOR_DELIVERY, "OEC-01", "São Paulo, SP"),
        ):
            shipment_record_tracking_event(
                shipment=shipment,
                status=status,
                carrier_code=code,
                carrier_message=f"Objeto {status.label.lower()}",
                location=where,
                occurred_at=now - timedelta(minutes=minutes),
            )
        notification_queue(
            customer=customer,
            order=order,
            channel=NotificationChannel.EMAIL,
            template="shipment_posted",
            subject=f"{order.number} is on its way",
            body=f"{order.number} has been handed to the carrier.",
        )
    for _ in range(extra):
        failed = PaymentFactory.create(
            order=OrderFactory.create(customer=customer), status=PaymentStatus.FAILED
        )
        # A declined attempt of another order, moved here: an order takes one payment at a time.
        Payment.objects.filter(pk=failed.pk).update(order=order)
    for _ in range(extra):
        refund_request(payment=payment, requested_by=staff, reason=RefundReason.DEFECTIVE, amount=1)
    order.refresh_from_db()
    return order
