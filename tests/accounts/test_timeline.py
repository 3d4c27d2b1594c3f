import base64
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.customers.selectors import (
    InvalidCursor,
    customer_timeline,
    decode_cursor,
    encode_cursor,
)
from integrations.events import record_event, recording_history
from orders.selectors import order_timeline
from tests.factories import make_customer, make_order
from usage.services import usage_record

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _usage(customer, n, *, same_time=False):
    """``n`` usage events; ``same_time``: all recorded at the same instant (history imported with
    one time), so only the id tells them apart."""
    for i in range(n):
        with recording_history() if same_time else nullcontext():
            usage_record(
                customer=customer,
                name="feature_used",
                properties={"feature": f"f{i}"},
                occurred_at=T0 if same_time else T0 + timedelta(minutes=i),
            )


def test_newest_first_and_keyset_pages_cover_everything_once(db):
    customer = make_customer()
    _usage(customer, 25, same_time=True)  # ties on recorded_at are broken by id
    _usage(customer, 10)
    seen, cursor, pages = [], None, 0
    while True:
        page = customer_timeline(customer=customer, before=cursor, limit=7)
        seen.extend(page.entries)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    keys = [(e.recorded_at, e.id) for e in seen]
    assert keys == sorted(keys, reverse=True)
    assert sum(1 for e in seen if e.recorded_at == T0) == 25
    assert len({e.id for e in seen}) == len(seen) == 36  # 35 usage + customer.created
    assert pages == 6


def test_filter_by_kind(db):
    customer = make_customer()
    make_order(customer=customer)
    _usage(customer, 3)
    page = customer_timeline(customer=customer, kinds=["order"])
    assert [e.type for e in page.entries] == ["order.placed"]
    page = customer_timeline(customer=customer, kinds=["usage", "customer"])
    assert {e.kind for e in page.entries} == {"usage", "customer"}
    assert len(page.entries) == 4


def test_entries_link_to_their_objects_and_show_who(db, support_user):
    customer = make_customer()
    order = make_order(customer=customer)
    with transaction.atomic():
        record_event(
            type="note.added", customer=customer, actor=support_user, data={"excerpt": "hi"}
        )
    entries = customer_timeline(customer=customer).entries
    placed = next(e for e in entries if e.type == "order.placed")
    assert placed.subject_url == reverse("admin:orders_order_change", args=[order.pk])
    assert placed.subject_label == str(order)
    note = next(e for e in entries if e.type == "note.added")
    assert note.actor == "support"
    assert note.subject_url is None


def test_cursor_round_trip_and_garbage_is_refused():
    assert decode_cursor(encode_cursor(T0, 42)) == (T0, 42)
    # A cursor of the timeline as it was ordered before (by the provider's time, no prefix)
    # is refused rather than read as a recorded time.
    old_format = base64.urlsafe_b64encode(f"{T0.isoformat()}|7".encode()).decode().rstrip("=")
    for bad in ["", "not-base64!", encode_cursor(T0, 1)[:-3], "MjAyNi0wMS0wMXwx", old_format]:
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_selector_runs_one_query_whatever_the_history(db, django_assert_num_queries, support_user):
    small, big = make_customer(), make_customer()
    with transaction.atomic():
        for i in range(120):
            record_event(
                type="note.added", customer=big, actor=support_user, data={"excerpt": str(i)}
            )
    make_order(customer=big)
    for customer in (small, big):
        with django_assert_num_queries(1):
            customer_timeline(customer=customer, limit=200)


def _change_page_queries(client, customer, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("admin:accounts_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_admin_timeline_query_count_is_the_same_for_1_and_500_events(
    client, admin_user, django_assert_max_num_queries
):
    client.force_login(admin_user)
    one = make_customer()  # customer.created is its one event
    many = make_customer()
    with transaction.atomic():
        for i in range(499):
            record_event(
                type="usage.feature_used",
                customer=many,
                subject=many,
                actor=admin_user if i % 2 else None,
                actor_label="product",
                occurred_at=T0 + timedelta(seconds=i),
                data={"properties": {"feature": f"f{i}"}},
            )
    queries_one, response_one = _change_page_queries(client, one, django_assert_max_num_queries)
    queries_many, response_many = _change_page_queries(client, many, django_assert_max_num_queries)
    assert queries_one == queries_many
    assert response_one.content.count(b'class="timeline-entry"') == 1
    assert response_many.content.count(b'class="timeline-entry"') == 50
    assert b"timeline-older" in response_many.content
    assert b"timeline-older" not in response_one.content


def test_admin_timeline_pages_filters_and_empty_state(client, admin_user):
    client.force_login(admin_user)
    customer = make_customer()
    _usage(customer, 60)
    url = reverse("admin:accounts_customer_change", args=[customer.pk])
    first = client.get(url)
    cursor = first.context["timeline"].next_cursor
    second = client.get(url, {"before": cursor})
    assert second.status_code == 200
    assert len(second.context["timeline"].entries) == 11
    filtered = client.get(url, {"source": "orders"})
    assert filtered.context["timeline"].entries == []
    assert "No entries from Orders." in filtered.content.decode()
    broken = client.get(url, {"before": "garbage"})
    assert broken.status_code == 200
    assert len(broken.context["timeline"].entries) == 50


def test_staff_note_from_the_customer_page(client, support_user):
    from accounts.access.roles import sync_roles

    sync_roles()
    client.force_login(support_user)
    customer = make_customer()
    url = reverse("admin:accounts_customer_add_note", args=[customer.pk])
    response = client.post(url, {"body": "Called about delivery"})
    assert response.status_code == 302
    assert customer.notes.get().body == "Called about delivery"
    page = client.get(reverse("admin:accounts_customer_change", args=[customer.pk]))
    assert b"Called about delivery" in page.content


def test_role_without_note_right_cannot_add_notes(client, db):
    from accounts.access.roles import sync_roles
    from tests.factories import make_staff

    sync_roles()
    ops = make_staff("ops1", role="ops")
    client.force_login(ops)
    customer = make_customer()
    response = client.post(
        reverse("admin:accounts_customer_add_note", args=[customer.pk]), {"body": "x"}
    )
    assert response.status_code == 403
    assert not customer.notes.exists()


def test_a_follow_up_never_sorts_before_the_fact_that_caused_it(client, admin_user):
    """A provider whose clock runs ahead dates a payment minutes after the message we send
    about it: the timelines still put the message after the payment (recorded order), show
    the provider's own time beside ours, and both to the second."""
    from django.utils import timezone

    from notifications.models import NotificationChannel
    from notifications.services import notification_queue
    from payments.models import PaymentMethod
    from payments.services import payment_create, payment_mark_succeeded

    customer = make_customer()
    order = make_order(customer=customer)
    payment = payment_create(order=order, provider="sandbox", method=PaymentMethod.CARD)
    provider_time = (timezone.now() + timedelta(minutes=7)).replace(microsecond=0)
    payment_mark_succeeded(payment=payment, occurred_at=provider_time)
    notification_queue(  # what the payment caused, written after it
        customer=customer,
        order=order,
        channel=NotificationChannel.EMAIL,
        template="order_paid",
        body="Thank you!",
    )

    for entries in (
        customer_timeline(customer=customer).entries,
        order_timeline(order=order),
    ):
        types = [e.type for e in entries]  # newest first
        assert types.index("notification.queued") < types.index("payment.succeeded")
        succeeded = next(e for e in entries if e.type == "payment.succeeded")
        assert succeeded.occurred_at == provider_time
        assert succeeded.recorded_at < provider_time
        assert succeeded.provider_time_differs

    client.force_login(admin_user)
    for url in (
        reverse("admin:accounts_customer_change", args=[customer.pk]),
        reverse("admin:orders_order_change", args=[order.pk]),
    ):
        page = client.get(url).content.decode()
        row = page.split('data-type="payment.succeeded"', 1)[1].split("</tr>", 1)[0]
        assert f'provider time <time datetime="{provider_time.isoformat()}">' in row
        assert provider_time.strftime("%Y-%m-%d %H:%M:%S") in row
        recorded = succeeded.recorded_at.strftime("%Y-%m-%d %H:%M:%S")
        assert recorded in row
        assert page.index('data-type="notification.queued"') < page.index(
            'data-type="payment.succeeded"'
        )
