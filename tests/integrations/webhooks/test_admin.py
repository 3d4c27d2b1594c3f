"""The inbox admin: filters, exact search, a change page that explains the event."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookRejection
from tests.integrations.webhooks.support import PROVIDER, UNKNOWN_SECRET, signed

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:integrations_webhookevent_changelist"


@pytest.fixture
def inbox(handlers, deliver, customer):
    """A processed, an ignored and a failed event."""
    ids = {}
    for key, event_type, data in [
        ("processed", "customer.linked", {"id": "cus_adm", "customer_pk": customer.pk}),
        ("ignored", "invoice.finalized", {"id": "in_adm"}),
        ("failed", "test.explode", {"id": "cus_boom", "customer_pk": customer.pk}),
    ]:
        response = deliver(*signed(event_type, data, msg_id=f"msg_adm_{key}"))
        ids[key] = WebhookEvent.objects.get(pk=response.json()["id"])
    assert {k: e.status for k, e in ids.items()} == {k: k for k in ids}
    return ids


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _listed(response) -> set[str]:
    return {e.event_id for e in response.context["cl"].result_list}


def test_changelist_renders_every_event_with_bounded_queries(
    inbox, staff_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):  # 7, and the arrivals waiting
        response = staff_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert _listed(response) == {"msg_adm_processed", "msg_adm_ignored", "msg_adm_failed"}

    WebhookEvent.objects.bulk_create(
        WebhookEvent(provider=PROVIDER, event_id=f"bulk_{n}", event_type=f"t.{n}", body="{}")
        for n in range(40)
    )
    with django_assert_max_num_queries(8):  # 7, and the arrivals waiting
        response = staff_client.get(reverse(CHANGELIST))
    assert len(_listed(response)) == 43


def test_search_by_exact_event_id_or_object_id(inbox, staff_client):
    url = reverse(CHANGELIST)
    assert _listed(staff_client.get(url, {"q": "msg_adm_failed"})) == {"msg_adm_failed"}
    assert _listed(staff_client.get(url, {"q": "in_adm"})) == {"msg_adm_ignored"}
    assert _listed(staff_client.get(url, {"q": "msg_adm"})) == set()  # exact, not a prefix scan


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "failed"}, {"msg_adm_failed"}),
        ({"event_type": "invoice.finalized"}, {"msg_adm_ignored"}),
        ({"provider": PROVIDER}, {"msg_adm_processed", "msg_adm_ignored", "msg_adm_failed"}),
        ({"provider": "nobody"}, set()),
    ],
)
def test_filters(inbox, staff_client, params, expected):
    response = staff_client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    assert _listed(response) == expected


def test_date_filter_by_received_at(inbox, staff_client):
    """The date hierarchy is gone (its year links were a DISTINCT over the whole inbox); the
    bounded date filter replaces it, and old drill-down links still filter."""
    received = inbox["failed"].received_at
    response = staff_client.get(
        reverse(CHANGELIST),
        {"received_at__year": received.year, "received_at__month": received.month},
    )
    assert response.status_code == 200
    assert len(_listed(response)) == 3
    changelist = response.context["cl"]
    assert changelist.date_hierarchy is None
    assert "received at" in [str(spec.title) for spec in changelist.filter_specs]
    since = {"received_at__gte": "2000-01-01 00:00:00+00:00"}
    assert len(_listed(staff_client.get(reverse(CHANGELIST), since))) == 3
    until = {"received_at__lt": "2000-01-01 00:00:00+00:00"}
    assert _listed(staff_client.get(reverse(CHANGELIST), until)) == set()


def test_change_page_of_a_processed_event_links_the_affected_objects(inbox, staff_client, customer):
    event = inbox["processed"]
    response = staff_client.get(reverse("admin:integrations_webhookevent_change", args=[event.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    customer_url = reverse("admin:accounts_customer_change", args=[customer.pk])
    assert f'<a href="{customer_url}">{customer.name}</a>' in html
    assert "&quot;customer.linked&quot;" in html  # the body, pretty-printed and escaped
    assert "\n  &quot;data&quot;: {" in html
    assert "webhook-timestamp" in html
    assert "webhook-signature" not in html


def test_change_page_of_a_failed_event_shows_error_and_traceback(inbox, staff_client):
    event = inbox["failed"]
    response = staff_client.get(reverse("admin:integrations_webhookevent_change", args=[event.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "ProviderSaidNo: provider said no" in html
    assert "Traceback (most recent call last)" in html
    assert html.count("<pre") >= 4  # body, headers, error, traceback


def test_change_page_escapes_hostile_payloads(handlers, deliver, staff_client):
    response = deliver(*signed("invoice.finalized", {"id": "<script>alert(1)</script>"}))
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    html = staff_client.get(
        reverse("admin:integrations_webhookevent_change", args=[event.pk])
    ).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_inbox_rows_cannot_be_added_edited_or_deleted_from_the_admin(inbox, staff_client):
    event = inbox["processed"]
    assert staff_client.get(reverse("admin:integrations_webhookevent_add")).status_code == 403
    delete = reverse("admin:integrations_webhookevent_delete", args=[event.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert WebhookEvent.objects.filter(pk=event.pk).exists()


def test_rejection_admin_lists_and_shows_refused_deliveries(handlers, deliver, staff_client):
    deliver(*signed("customer.linked", {"id": "c"}, secret=UNKNOWN_SECRET))
    rejection = WebhookRejection.objects.get()
    listing = staff_client.get(reverse("admin:integrations_webhookrejection_changelist"))
    assert listing.status_code == 200
    assert "No matching signature found" in listing.content.decode()
    page = staff_client.get(
        reverse("admin:integrations_webhookrejection_change", args=[rejection.pk])
    )
    assert page.status_code == 200
    assert rejection.body_sha256 in page.content.decode()
    assert "webhook-signature" not in page.content.decode()


def test_changelist_cuts_long_values_keeping_them_whole_and_escaped_in_a_tooltip(staff_client):
    event_type = "order.tracking.<b>status</b>_changed.out_for_delivery.second_attempt"
    WebhookEvent.objects.create(
        provider=PROVIDER, event_id="evt_long", event_type=event_type, body="{}"
    )
    page = staff_client.get(reverse(CHANGELIST)).content.decode()
    escaped = "order.tracking.&lt;b&gt;status&lt;/b&gt;_changed.out_for_delivery.second_attempt"
    assert f'<span class="sb-cut" title="{escaped}">{escaped}</span>' in page
    assert "<b>status</b>" not in page
    assert "integrations/admin/columns.css" in page
    # The status column comes right after the time received, before the long ids.
    headers = re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', page)
    assert headers[:3] == ["received_at", "status", "provider"]
