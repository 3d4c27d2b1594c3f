from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Customer, User
from shipping.models import Shipment
from shipping.services import shipment_create, shipment_purchase_label
from tests.factories import make_customer, make_paid_payment


@pytest.fixture
def shipment(customer: Customer) -> Shipment:
    order = make_paid_payment(customer=customer).order
    shipment = shipment_create(order=order, carrier="sandbox", service="SEDEX", cost_amount=2_350)
    return shipment_purchase_label(
        shipment=shipment, tracking_code="BR999888777BR", provider_shipment_id="sb-shp-1"
    )


@pytest.fixture
def staff_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


def test_changelist_lists_shipments(staff_client: Client, shipment: Shipment) -> None:
    response = staff_client.get(reverse("admin:shipping_shipment_changelist"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "BR999888777BR" in content
    assert shipment.order.number in content
    assert "Ana Souza" in content
    assert "R$ 23,50" in content


@pytest.mark.parametrize("term", ["BR999888777BR", "sb-shp-1", "order"])
def test_changelist_search(staff_client: Client, shipment: Shipment, term: str) -> None:
    other_order = make_paid_payment(customer=make_customer()).order
    shipment_create(order=other_order, carrier="sandbox")
    term = shipment.order.number.lower() if term == "order" else term

    response = staff_client.get(reverse("admin:shipping_shipment_changelist"), {"q": term})

    assert response.status_code == 200
    assert [s.pk for s in response.context["cl"].result_list] == [shipment.pk]


def test_changelist_filters(staff_client: Client, shipment: Shipment) -> None:
    response = staff_client.get(
        reverse("admin:shipping_shipment_changelist"),
        {"status__exact": "label_purchased", "carrier": "sandbox"},
    )

    assert response.status_code == 200
    assert [s.pk for s in response.context["cl"].result_list] == [shipment.pk]


def test_change_page_renders_provider_fields_read_only(
    staff_client: Client, shipment: Shipment
) -> None:
    response = staff_client.get(shipment.get_absolute_url())

    assert response.status_code == 200
    form_fields = response.context["adminform"].form.fields
    assert "service" in form_fields
    for field in ("status", "tracking_code", "provider_shipment_id", "order", "carrier"):
        assert field not in form_fields
    assert "BR999888777BR" in response.content.decode()
    # The cost is shown as money and never editable as minor units.
    assert "cost_amount" not in form_fields and "cost" not in form_fields
    assert "R$ 23,50" in response.content.decode()
    assert ">2350<" not in response.content.decode()


def test_admin_cannot_add_or_delete_shipments(staff_client: Client, shipment: Shipment) -> None:
    add = staff_client.get(reverse("admin:shipping_shipment_add"))
    delete = staff_client.post(
        reverse("admin:shipping_shipment_delete", args=[shipment.pk]), {"post": "yes"}
    )

    assert add.status_code == 403
    assert delete.status_code == 403
    assert Shipment.objects.filter(pk=shipment.pk).exists()


@pytest.mark.parametrize("term", ["br999888777br", "Br999888777bR", " br999888777br "])
def test_tracking_search_is_case_insensitive(
    staff_client: Client, shipment: Shipment, term: str
) -> None:
    """Issue 11 item 5: staff paste tracking codes in any case."""
    response = staff_client.get(reverse("admin:shipping_shipment_changelist"), {"q": term})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [shipment]


def test_tracking_search_finds_nothing_for_another_code(
    staff_client: Client, shipment: Shipment
) -> None:
    response = staff_client.get(reverse("admin:shipping_shipment_changelist"), {"q": "br000"})

    assert list(response.context["cl"].result_list) == []
