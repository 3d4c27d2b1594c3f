import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.customers.search import customer_search
from accounts.customers.services import customer_identifier_link
from orders.models import Order
from payments.services import refund_approve, refund_mark_processing, refund_request
from tests.factories import make_customer, make_order, make_paid_payment


@pytest.fixture
def world(db, support_user, finance_user):
    target = make_customer(
        name="Ana Souza",
        email="ana@example.test",
        phone="+5511987654321",
        tax_document="52998224725",
    )
    for _ in range(3):
        make_order(customer=make_customer())
    payment = make_paid_payment(order=make_order(customer=target))
    payment.provider_payment_id = "pi_3MtwBwLkdIwHu7ix28a3tqPa"
    payment.save(update_fields=["provider_payment_id"])
    refund = refund_request(payment=payment, requested_by=support_user, reason="other", amount=100)
    refund = refund_approve(refund=refund, approver=finance_user)
    refund_mark_processing(refund=refund, provider_refund_id="re_1Nispe2eZvKYlo2Cd31jOCgZ")
    customer_identifier_link(customer=target, system="hubspot", external_id="512")
    return target, payment.order


@pytest.mark.parametrize(
    "term",
    [
        "ana@example.test",
        "ANA@EXAMPLE.TEST",
        "(11) 98765-4321",
        "+55 11 98765-4321",
        "529.982.247-25",
        "52998224725",
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "re_1Nispe2eZvKYlo2Cd31jOCgZ",
        "512",
    ],
)
def test_search_finds_customer_by_any_identifier(world, term):
    target, _ = world
    assert list(customer_search(term)) == [target]


def test_search_by_order_number(world):
    target, order = world
    assert list(customer_search(order.number)) == [target]
    assert list(customer_search(order.number.lower())) == [target]


def test_unknown_terms_find_nobody(world):
    assert not customer_search("pi_does_not_exist").exists()
    assert not customer_search("").exists()


def test_admin_changelist_search(client, admin_user, world):
    target, order = world
    client.force_login(admin_user)
    url = reverse("admin:accounts_customer_changelist")
    for term in ("Souza", order.number, "re_1Nispe2eZvKYlo2Cd31jOCgZ", "(11) 98765-4321"):
        response = client.get(url, {"q": term})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [target], term


@override_settings(ADMIN_COUNT_CAP=5)
def test_big_changelists_count_at_most_the_cap(client, admin_user, db):
    for _ in range(8):
        make_order()
    client.force_login(admin_user)
    response = client.get(reverse("admin:orders_order_changelist"))
    assert response.status_code == 200
    cl = response.context["cl"]
    assert Order.objects.count() == 8
    assert cl.result_count == 6  # cap + 1: "more than 5", without counting the whole table
    assert cl.show_full_result_count is False


def test_changelists_render_with_bounded_queries(
    client, admin_user, db, django_assert_max_num_queries
):
    for _ in range(30):
        make_paid_payment()
    client.force_login(admin_user)
    for name in (
        "accounts_customer",
        "orders_order",
        "payments_payment",
        "integrations_domainevent",
    ):
        with django_assert_max_num_queries(12):
            response = client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name
