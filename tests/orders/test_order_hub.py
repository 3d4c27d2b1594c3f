"""The order page is the hub (issue 11 item 3): address, payments, refunds, disputes, shipments
with their tracking and messages, each row linking to its page, in a bounded number of queries;
links only to pages the role may open (item 5); the pages of what hangs off an order link back."""

from __future__ import annotations

import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.access.roles import sync_roles
from integrations.models import DomainEvent
from notifications.models import Notification
from orders.hub import HUB_SECTION_LIMIT
from payments.models import Dispute, Payment, Refund
from shipping.models import Shipment, TrackingEvent
from tests.factories import make_hub_order, make_order, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def roles(db):
    sync_roles()


def _page(client, user, order) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _section(page: str, key: str) -> str:
    start = page.index(f'id="hub-{key}"')
    end = page.find('<div class="module hub-section"', start + 1)
    return page[start : end if end != -1 else page.index('id="timeline"', start)]


def _change_url(obj) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def test_the_order_page_shows_everything_that_hangs_off_the_order(client, admin_user):
    order = make_hub_order()
    payment = Payment.objects.get(order=order)
    refund, dispute = Refund.objects.get(), Dispute.objects.get()
    shipment, message = Shipment.objects.get(), Notification.objects.get(order=order)

    page = _page(client, admin_user, order)

    address = page[page.index('id="hub-address"') :]
    for line in ("Ana Souza", "Rua Augusta 1500", "Consolação, São Paulo", "SP 01304001"):
        assert line in address.split("</address>")[0]
    payments = _section(page, "payments")
    assert _change_url(payment) in payments
    assert "R$ 120,00" in payments and "Succeeded" in payments
    refunds = _section(page, "refunds")
    assert _change_url(refund) in refunds
    assert "R$ 10,00" in refunds and "Requested" in refunds
    disputes = _section(page, "disputes")
    assert _change_url(dispute) in disputes and dispute.provider_dispute_id in disputes
    assert "R$ 120,00" in disputes
    shipments = _section(page, "shipments")
    assert _change_url(shipment) in shipments and shipment.tracking_code in shipments
    for scan in TrackingEvent.objects.filter(shipment=shipment):
        assert _change_url(scan) in shipments
        assert scan.carrier_code in shipments and scan.location in shipments
        assert scan.get_status_display() in shipments
        assert scan.occurred_at is not None
        assert scan.occurred_at.strftime("%Y-%m-%d %H:%M:%S") in shipments
    messages = _section(page, "messages")
    assert _change_url(message) in messages and message.recipient in messages
    # The order's timeline has the message too, recorded after the order was placed.
    timeline = page[page.index('id="timeline"') :]
    types = re.findall(r'data-type="([a-z_.]+)"', timeline)
    assert "notification.queued" in types
    assert types[-1] == "order.placed"


def test_empty_sections_say_what_would_appear_there(client, admin_user):
    order = make_order()  # placed, nothing else yet

    page = _page(client, admin_user, order)

    assert "No shipping address." in page
    assert "No payments yet." in _section(page, "payments")
    assert "No refunds." in _section(page, "refunds")
    assert "No disputes." in _section(page, "disputes")
    assert "No shipments yet." in _section(page, "shipments")
    assert "No messages about this order yet." in _section(page, "messages")
    assert 'class="hub-row"' not in page


def _queries(client, order) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_hub_costs_the_same_queries_for_one_row_or_many(
    client, admin_user, django_assert_max_num_queries
):
    client.force_login(admin_user)
    small = make_hub_order()
    big = make_hub_order(staff=make_staff("hub-support-2", role="support"), extra=12)
    assert Shipment.objects.filter(order=big).count() == 13
    assert TrackingEvent.objects.filter(shipment__order=big).count() == 26

    _queries(client, small)  # warm the content-type and permission caches
    assert _queries(client, small) == _queries(client, big)
    with django_assert_max_num_queries(30):
        client.get(reverse("admin:orders_order_change", args=[big.pk]))


def test_a_section_shows_its_newest_rows_and_says_when_there_are_more(client, admin_user):
    order = make_hub_order(extra=HUB_SECTION_LIMIT)

    refunds = _section(_page(client, admin_user, order), "refunds")

    assert refunds.count('class="hub-row"') == HUB_SECTION_LIMIT
    assert f"Showing the newest {HUB_SECTION_LIMIT}" in refunds


# Roles see only what they can open ---------------------------------------------------------


def _links(page: str) -> set[str]:
    return set(re.findall(r'href="(/admin/[^"?#]+)"', page))


@pytest.mark.parametrize(
    ("role", "sees_dispute_links"),
    [("support", False), ("ops", False), ("finance", True), ("sales", False)],
)
def test_links_on_the_order_page_only_lead_where_the_role_may_go(client, role, sees_dispute_links):
    order = make_hub_order()
    dispute = Dispute.objects.get()
    user = make_staff(f"{role}-viewer", role=role)

    page = _page(client, user, order)
    links = _links(page)

    # What every role opens: payments, refunds, shipments, scans, messages, the customer.
    for obj in (
        Payment.objects.get(order=order),
        Refund.objects.get(),
        Shipment.objects.get(),
        *TrackingEvent.objects.all(),
        Notification.objects.get(order=order),
        order.customer,
    ):
        assert _change_url(obj) in links, (role, obj)
    # Disputes are finance's: the row is there, its link only for finance.
    assert dispute.provider_dispute_id in _section(page, "disputes")
    assert (_change_url(dispute) in links) is sees_dispute_links
    # The timeline's "dispute opened" line too.
    assert DomainEvent.objects.filter(
        type="dispute.opened", subject_type=ContentType.objects.get_for_model(Dispute)
    ).exists()
    timeline = page[page.index('id="timeline"') :]
    assert (_change_url(dispute) in timeline) is sees_dispute_links
    # Every link on the page opens for this user.
    for url in links:
        if "/change/" in url:
            assert client.get(url).status_code == 200, (role, url)


@pytest.mark.parametrize(
    ("role", "sees_dispute_links"), [("support", False), ("ops", False), ("finance", True)]
)
def test_timeline_links_on_the_customer_page_follow_the_role(client, role, sees_dispute_links):
    order = make_hub_order()
    dispute, payment = Dispute.objects.get(), Payment.objects.get(order=order)
    client.force_login(make_staff(f"{role}-viewer", role=role))

    response = client.get(reverse("admin:accounts_customer_change", args=[order.customer_id]))
    assert response.status_code == 200
    links = _links(response.content.decode())

    assert _change_url(payment) in links
    assert _change_url(order) in links
    assert (_change_url(dispute) in links) is sees_dispute_links
    for url in links:
        if "/change/" in url:
            assert client.get(url).status_code == 200, (role, url)


# The pages of what hangs off an order link back to it -------------------------------------


@pytest.mark.parametrize("model", [Payment, Refund, Dispute, Shipment])
def test_pages_of_what_hangs_off_an_order_link_back_to_it(client, admin_user, model):
    order = make_hub_order()
    obj = model.objects.first()

    page = _page_of(client, admin_user, obj)

    assert re.search(
        rf'<a href="{re.escape(_change_url(order))}" id="order-link"[^>]*>Order {order.number}</a>',
        page,
    )


def _page_of(client, user, obj) -> str:
    client.force_login(user)
    response = client.get(_change_url(obj))
    assert response.status_code == 200
    return response.content.decode()
