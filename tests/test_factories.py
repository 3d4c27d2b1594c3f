"""The factories build valid rows through the real services, and the make_* helpers are theirs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from typing import Any

import factory
import pytest
from django.db import models

from accounts.access.api_keys import api_key_authenticate
from accounts.customers.validators import is_valid_cpf
from accounts.models import AuditLogEntry, Customer, User
from notifications.models import NotificationStatus
from orders.models import Order, OrderStatus
from orders.services import OrderLineInput
from payments.models import Payment, PaymentStatus, RefundStatus
from shipping.models import ShipmentStatus
from tests.factories import (
    PASSWORD,
    ApiKeyFactory,
    CustomerFactory,
    CustomerNoteFactory,
    NotificationFactory,
    OrderFactory,
    PaymentFactory,
    RefundFactory,
    ShipmentFactory,
    StaffFactory,
    UserFactory,
    events_for,
    make_asaas_customer,
    make_customer,
    make_order,
    make_paid_payment,
    make_staff,
)

pytestmark = pytest.mark.django_db

ALL_FACTORIES: list[Any] = [
    UserFactory,
    StaffFactory,
    CustomerFactory,
    OrderFactory,
    PaymentFactory,
    RefundFactory,
    ShipmentFactory,
    NotificationFactory,
    CustomerNoteFactory,
    ApiKeyFactory,
]


@pytest.mark.parametrize("factory_class", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_each_factory_builds_a_valid_saved_row(factory_class: Any) -> None:
    obj = factory_class.create()

    model = factory_class._meta.model
    assert isinstance(obj, model)
    assert model.objects.filter(pk=obj.pk).exists()
    stored = model.objects.get(pk=obj.pk)
    stored.full_clean()
    obj.full_clean()


@pytest.mark.parametrize(
    ("factory_class", "event_types"),
    [
        (CustomerFactory, ["customer.created"]),
        (OrderFactory, ["order.placed"]),
        (PaymentFactory, ["payment.created"]),
        (RefundFactory, ["refund.requested"]),
        (ShipmentFactory, ["shipment.created"]),
        (NotificationFactory, ["notification.queued"]),
        (CustomerNoteFactory, ["note.added"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_factories_go_through_the_services_and_record_their_events(
    factory_class: Any, event_types: list[str]
) -> None:
    obj = factory_class.create()

    assert [e.type for e in events_for(obj)] == event_types


def test_sequences_give_unique_names_emails_and_order_numbers() -> None:
    customers = CustomerFactory.create_batch(5)
    staff = StaffFactory.create_batch(5)
    orders = OrderFactory.create_batch(5)

    assert len({c.email for c in customers}) == 5
    assert len({c.name for c in customers}) == 5
    assert len({u.username for u in staff}) == 5
    assert len({u.email for u in staff}) == 5
    numbers = [o.number for o in orders]
    assert len(set(numbers)) == 5
    assert all(re.fullmatch(r"SB-\d{6}", n) for n in numbers)


def test_cpf_trait_gives_each_customer_a_valid_cpf_of_its_own() -> None:
    customers = CustomerFactory.create_batch(20, cpf=True)

    documents = [c.tax_document for c in customers]
    assert len(set(documents)) == 20
    assert all(is_valid_cpf(d) for d in documents)
    assert {c.tax_document_type for c in customers} == {Customer.TaxDocumentType.CPF}
    assert CustomerFactory.create().tax_document == ""


def test_staff_factory_sets_roles_password_and_staff_flag() -> None:
    user = StaffFactory.create(roles=["finance", "support"])

    assert user.is_staff
    assert not user.is_superuser
    assert user.check_password(PASSWORD)
    assert sorted(user.groups.values_list("name", flat=True)) == ["finance", "support"]
    assert user.email == f"{user.username}@switchboard.test"
    plain = UserFactory.create()
    assert not plain.is_staff
    assert not plain.groups.exists()


def test_order_factory_keeps_money_in_minor_units_and_times_in_utc() -> None:
    order = OrderFactory.create(
        amount=1_999,
        shipping_amount=500,
        lines=[
            OrderLineInput(sku="A", description="A", quantity=2, unit_amount=1_250),
            OrderLineInput(sku="B", description="B", quantity=1, unit_amount=99),
        ],
    )

    order.refresh_from_db()
    assert (order.subtotal_amount, order.shipping_amount, order.total_amount) == (2_599, 500, 3_099)
    assert isinstance(order.total_amount, int)
    assert [(line.sku, line.total_amount) for line in order.lines.all()] == [
        ("A", 2_500),
        ("B", 99),
    ]
    assert order.placed_at.utcoffset() is not None
    assert order.placed_at.astimezone(UTC) == order.placed_at
    assert OrderFactory.create(amount=1_999).total_amount == 1_999


def test_paid_order_is_paid_by_a_succeeded_sandbox_payment() -> None:
    order = OrderFactory.create(paid=True)

    assert order.status == OrderStatus.PAID
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert [(p.provider, p.status, p.amount) for p in order.payments.all()] == [
        ("sandbox", PaymentStatus.SUCCEEDED, order.total_amount)
    ]
    assert [e.type for e in events_for(order)] == ["order.placed", "order.paid"]


@pytest.mark.parametrize(
    "status",
    [
        PaymentStatus.PENDING,
        PaymentStatus.PROCESSING,
        PaymentStatus.SUCCEEDED,
        PaymentStatus.FAILED,
        PaymentStatus.CANCELLED,
    ],
)
def test_payment_factory_reaches_each_status_through_the_services(status: str) -> None:
    payment = PaymentFactory.create(status=status)

    assert Payment.objects.get(pk=payment.pk).status == status
    types = [e.type for e in events_for(payment)]
    assert types[0] == "payment.created"
    assert len(types) == (1 if status == PaymentStatus.PENDING else 2)


def test_unsupported_statuses_are_refused_before_anything_is_written() -> None:
    order = OrderFactory.create()

    with pytest.raises(ValueError, match="expired"):
        PaymentFactory.create(order=order, status="expired")
    with pytest.raises(ValueError, match="shipped"):
        OrderFactory.create(customer=order.customer, status="shipped")

    assert not Payment.objects.exists()
    assert list(Order.objects.all()) == [order]


def test_refund_shipment_notification_and_api_key_factories_build_what_the_services_do() -> None:
    refund = RefundFactory.create()
    assert refund.status == RefundStatus.REQUESTED
    assert refund.amount == refund.payment.amount
    assert refund.payment.status == PaymentStatus.SUCCEEDED
    assert refund.requested_by.groups.filter(name="support").exists()
    assert AuditLogEntry.objects.filter(
        action="refund_requested", object_id=str(refund.pk)
    ).exists()

    shipment = ShipmentFactory.create()
    assert shipment.status == ShipmentStatus.PENDING
    assert Order.objects.get(pk=shipment.order_id).status == OrderStatus.FULFILLING

    notification = NotificationFactory.create()
    assert notification.status == NotificationStatus.QUEUED
    assert notification.recipient == notification.customer.email

    key: Any = ApiKeyFactory.create(scopes=["orders:write", "orders:read"])
    assert api_key_authenticate(key.raw_key) == key
    assert key.scopes == ["orders:read", "orders:write"]
    assert AuditLogEntry.objects.filter(action="api_key_created", object_id=str(key.pk)).exists()


@pytest.fixture
def created_by(monkeypatch: pytest.MonkeyPatch) -> list[tuple[type, models.Model]]:
    """Every (factory, object) the factories create, in order; the real ``_create`` still runs."""
    seen: list[tuple[type, models.Model]] = []
    for factory_class in [*ALL_FACTORIES, factory.django.DjangoModelFactory]:
        if "_create" in vars(factory_class):
            original = vars(factory_class)["_create"].__func__
            monkeypatch.setattr(factory_class, "_create", classmethod(_spy(original, seen)))
    return seen


def _spy(original: Callable[..., Any], seen: list[tuple[type, models.Model]]) -> Any:
    def spy(cls: Any, model_class: Any, *args: Any, **kw: Any) -> Any:
        obj = original(cls, model_class, *args, **kw)
        seen.append((cls, obj))
        return obj

    return spy


def _made_by(seen: list[tuple[type, models.Model]], obj: models.Model) -> type:
    (maker,) = [cls for cls, made in seen if made is obj]
    return maker


def test_make_staff_returns_a_staff_factory_user(
    created_by: list[tuple[type, models.Model]],
) -> None:
    user = make_staff("ana", role="finance", is_superuser=True)

    assert _made_by(created_by, user) is StaffFactory
    assert (user.username, user.email, user.is_staff, user.is_superuser) == (
        "ana",
        "ana@switchboard.test",
        True,
        True,
    )
    assert user.check_password(PASSWORD)
    assert list(user.groups.values_list("name", flat=True)) == ["finance"]
    assert not make_staff("bia").groups.exists()
    assert User.objects.filter(username__in=["ana", "bia"]).count() == 2


def test_make_customer_and_make_asaas_customer_return_customer_factory_rows(
    created_by: list[tuple[type, models.Model]],
) -> None:
    customer = make_customer(name="Ana Souza", phone="(11) 98765-4321")
    asaas = make_asaas_customer(email="caio@example.test")
    explicit = make_asaas_customer(tax_document="529.982.247-25")

    assert _made_by(created_by, customer) is CustomerFactory
    assert _made_by(created_by, asaas) is CustomerFactory
    assert (customer.name, customer.phone, customer.tax_document) == (
        "Ana Souza",
        "+5511987654321",
        "",
    )
    assert asaas.email == "caio@example.test"
    assert is_valid_cpf(asaas.tax_document)
    assert explicit.tax_document == "52998224725"
    assert [e.type for e in events_for(customer)] == ["customer.created"]


def test_make_order_returns_an_order_factory_order(
    created_by: list[tuple[type, models.Model]],
) -> None:
    customer = make_customer()
    order = make_order(customer=customer, amount=5_000, payment_method="pix", currency="usd")
    default = make_order()

    assert _made_by(created_by, order) is OrderFactory
    assert _made_by(created_by, default) is OrderFactory
    assert (order.customer, order.total_amount, order.currency, order.payment_method) == (
        customer,
        5_000,
        "USD",
        "pix",
    )
    assert [(line.sku, line.quantity, line.unit_amount) for line in order.lines.all()] == [
        ("SKU-1", 1, 5_000)
    ]
    assert (default.total_amount, default.currency, default.status) == (10_000, "BRL", "placed")
    assert default.customer != customer


def test_make_paid_payment_returns_a_succeeded_payment_factory_payment(
    created_by: list[tuple[type, models.Model]],
) -> None:
    customer = make_customer()
    payment = make_paid_payment(customer=customer, amount=12_990)
    order = make_order()
    on_order = make_paid_payment(order=order)

    assert _made_by(created_by, payment) is PaymentFactory
    assert _made_by(created_by, on_order) is PaymentFactory
    assert (payment.status, payment.amount, payment.provider, payment.method) == (
        PaymentStatus.SUCCEEDED,
        12_990,
        "sandbox",
        "card",
    )
    assert payment.order.customer == customer
    assert Order.objects.get(pk=payment.order_id).status == OrderStatus.PAID
    assert on_order.order_id == order.pk
    assert [e.type for e in events_for(payment)] == ["payment.created", "payment.succeeded"]
