"""Factories build rows through the services where a service exists, so tests see real events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from accounts.customers.services import customer_create
from accounts.models import Customer, User
from orders.models import Order
from orders.services import OrderLineInput, order_place
from payments.models import Payment, PaymentMethod
from payments.services import payment_create, payment_mark_succeeded


def make_staff(username: str, *, role: str | None = None, **fields: Any) -> User:
    user = User.objects.create_user(
        username=username,
        email=f"{username}@switchboard.test",
        password="pw-for-tests-only",
        is_staff=True,
        **fields,
    )
    if role:
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
    return user


_customer_seq = iter(range(1, 10**9))


def make_customer(**overrides: Any) -> Customer:
    n = next(_customer_seq)
    fields: dict[str, Any] = {
        "name": f"Customer {n}",
        "email": f"customer{n}@example.test",
        "phone": "",
        "tax_document": "",
    }
    fields.update(overrides)
    return customer_create(**fields)


def make_order(*, customer: Customer | None = None, amount: int = 10_000, **kw: Any) -> Order:
    return order_place(
        customer=customer or make_customer(),
        currency=kw.pop("currency", "BRL"),
        lines=[OrderLineInput(sku="SKU-1", description="Widget", quantity=1, unit_amount=amount)],
        **kw,
    )


def make_paid_payment(*, order: Order | None = None, **kw: Any) -> Payment:
    order = order or make_order(**kw)
    payment = payment_create(order=order, provider="sandbox", method=PaymentMethod.CARD)
    return payment_mark_succeeded(payment=payment)


def events_for(obj: Any) -> Any:
    """The DomainEvents whose subject is ``obj``, oldest first."""
    from django.contrib.contenttypes.models import ContentType

    from integrations.models import DomainEvent

    return DomainEvent.objects.filter(
        subject_type=ContentType.objects.get_for_model(obj), subject_id=str(obj.pk)
    ).order_by("id")
