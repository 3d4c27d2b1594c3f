from __future__ import annotations

import pytest

from accounts.customers.search import customer_search
from accounts.models import Customer
from shipping.selectors import customer_ids_by_tracking_or_provider_id
from shipping.services import shipment_create, shipment_purchase_label
from tests.factories import make_customer, make_paid_payment


@pytest.fixture
def labelled(customer: Customer) -> None:
    order = make_paid_payment(customer=customer).order
    shipment = shipment_create(order=order, carrier="melhor_envio")
    shipment_purchase_label(
        shipment=shipment, tracking_code="BR123456789BR", provider_shipment_id="me-42"
    )
    other = make_paid_payment(customer=make_customer()).order
    shipment_create(order=other, carrier="sandbox")


@pytest.mark.usefixtures("labelled")
@pytest.mark.parametrize("term", ["BR123456789BR", "me-42", "  me-42 "])
def test_customer_search_finds_the_customer_by_tracking_code_or_carrier_id(
    customer: Customer, term: str
) -> None:
    assert list(customer_search(term)) == [customer]


@pytest.mark.usefixtures("labelled")
@pytest.mark.parametrize("term", ["BR123456789", "me-4", "sandbox"])
def test_customer_search_by_shipment_ids_matches_exactly(term: str) -> None:
    assert not customer_search(term).exists()


@pytest.mark.usefixtures("labelled")
def test_lookup_returns_customer_ids(customer: Customer) -> None:
    rows = list(customer_ids_by_tracking_or_provider_id("me-42"))

    assert rows == [{"order__customer_id": customer.pk}]
