"""The customer page as a 360 view (issue 14 item 5): header with the health score, timeline
filtered by source and searched over notes and messages, a message's states collapsed into one
entry, the edit form still saving, and a query count that does not grow with the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.customers.health import customer_health
from accounts.customers.selectors import TIMELINE_SOURCES, customer_timeline
from accounts.customers.services import customer_note_add
from accounts.customers.summary import customer_summary
from accounts.models import Customer
from integrations.events import record_event
from integrations.models import DomainEvent
from notifications.consent.services import consent_opt_out
from notifications.models import Notification, NotificationChannel
from notifications.services import (
    notification_mark_delivered,
    notification_mark_read,
    notification_mark_sent,
    notification_queue,
)
from payments.models import RefundReason
from payments.services import payment_create, payment_mark_failed, refund_request
from tests.factories import make_customer, make_order, make_paid_payment, make_staff
from usage.services import usage_record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _page(client, customer: Customer, **params):
    return client.get(reverse("admin:accounts_customer_change", args=[customer.pk]), params)


def _message(customer: Customer, body: str, *, states: int = 4) -> Notification:
    """A message queued, then sent, delivered and read (the first ``states`` of those)."""
    n = notification_queue(
        customer=customer, channel=NotificationChannel.EMAIL, template="hello", body=body
    )
    steps = [
        lambda: notification_mark_sent(notification=n, provider="sandbox", provider_message_id="m"),
        lambda: notification_mark_delivered(notification=n),
        lambda: notification_mark_read(notification=n),
    ]
    for step in steps[: states - 1]:
        step()
    return n


def _crm_event(customer: Customer, type_: str, kind: str) -> None:
    # The CRM's event types are registered by the HubSpot integration (another branch); the
    # timeline reads any stored type, labelled by its name when unregistered.
    DomainEvent.objects.create(type=type_, kind=kind, customer=customer, actor_label="hubspot")


# Health score -------------------------------------------------------------------------------


def test_a_quiet_customer_with_nothing_wrong_scores_70_and_every_part_says_why():
    health = customer_summary(customer=make_customer())["health"]
    points = {p["key"]: (p["points"], p["max"]) for p in health["parts"]}
    assert points == {
        "activity": (0, 30),
        "payments": (20, 20),
        "disputes_refunds": (20, 20),
        "delivery": (15, 15),
        "consent": (15, 15),
    }
    assert (health["score"], health["band"]) == (70, "good")
    assert next(p for p in health["parts"] if p["key"] == "activity")["detail"] == (
        "No product usage seen"
    )


def test_failures_open_refunds_opt_outs_lower_the_score_and_activity_raises_it():
    ana = make_customer(phone="+5511987654321")
    failed = payment_create(order=make_order(customer=ana), provider="sandbox", method="card")
    payment_mark_failed(payment=failed, reason="card_declined")
    paid = make_paid_payment(order=make_order(customer=ana, amount=5_000))
    refund_request(
        payment=paid, requested_by=make_staff("s1"), reason=RefundReason.DEFECTIVE, amount=1_000
    )
    consent_opt_out(customer=ana, channel="whatsapp", source="staff")
    today = datetime.now(UTC)
    for days_ago in range(4):
        usage_record(
            customer=ana,
            name="feature_used",
            properties={"feature": "export"},
            occurred_at=today - timedelta(days=days_ago),
        )

    health = customer_summary(customer=ana)["health"]
    points = {p["key"]: p["points"] for p in health["parts"]}
    assert points == {
        "activity": 12,  # 4 active days x 3
        "payments": 10,  # one failed payment: -10
        "disputes_refunds": 15,  # one open refund: -5
        "delivery": 15,
        "consent": 10,  # whatsapp opted out: -5
    }
    assert health["score"] == 62 and health["band"] == "watch"
    consent = next(p for p in health["parts"] if p["key"] == "consent")
    assert consent["detail"] == "Opted out of whatsapp"


def test_open_disputes_weigh_most_and_a_part_never_goes_below_zero():
    summary = {
        "payments": {"open_disputes": {"count": 3}, "open_refunds": {"count": 1}},
        "consent": {ch: {"state": "opted_out"} for ch in ("email", "whatsapp", "sms", "x")},
        "usage": {"last_seen_at": "2026-01-01T00:00:00+00:00", "active_days_30": 30},
    }
    health = customer_health(make_customer(), summary)
    points = {p["key"]: p["points"] for p in health["parts"]}
    assert points["disputes_refunds"] == 0 and points["consent"] == 0
    assert points["activity"] == 30  # capped at its maximum
    assert health["score"] == 30 + 20 + 0 + 15 + 0 and health["band"] == "watch"
    idle = customer_health(make_customer(), {**summary, "usage": None})
    assert idle["score"] == 0 + 20 + 0 + 15 + 0 and idle["band"] == "at_risk"


def test_the_context_api_returns_the_same_health_as_the_header(client, admin_user):
    from rest_framework.test import APIClient

    from accounts.access.api_keys import api_key_create

    ana = make_customer()
    _, raw = api_key_create(name="product", scopes=["customers:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    body = api.get(reverse("api-customer-context", args=[ana.pk])).json()
    client.force_login(admin_user)
    page = _page(client, ana)
    assert body["health"] == page.context["summary"]["health"]
    html = page.content.decode()
    assert 'id="health-score">70</span>' in html
    for part in body["health"]["parts"]:
        assert f'data-part="{part["key"]}"' in html


# Header ------------------------------------------------------------------------------------


def test_header_shows_money_in_major_units_orders_consent_and_crm_empty_state(client, admin_user):
    ana = make_customer(name="Ana Souza")
    make_paid_payment(order=make_order(customer=ana, amount=123_456))
    make_order(customer=ana, amount=999)
    consent_opt_out(customer=ana, channel="sms", source="staff")
    client.force_login(admin_user)
    html = _page(client, ana).content.decode()
    header = html.split('id="customer-header"', 1)[1].split("</section>", 1)[0]
    assert "R$ 1.234,56" in header and "123456" not in header
    assert 'data-status="placed">Placed: 1' in header
    assert 'data-channel="sms" data-state="opted_out">Sms: Opted out' in header
    assert "Not linked to HubSpot" in header
    assert "No plan activated" in header


def test_header_renders_the_crm_and_plan_parts_when_registered(client, admin_user, monkeypatch):
    from accounts.customers import summary as summary_module

    parts = dict(summary_module._PARTS)
    parts["crm"] = lambda c: {
        "owner": "Bia Costa",
        "lifecycle_stage": "customer",
        "deal_stage": "closedwon",
        "record_url": "https://app.hubspot.com/contacts/1/record/0-1/42",
        "synced_at": "2026-01-02T10:00:00+00:00",
    }
    parts["plan"] = lambda c: {"name": "Pro", "activated_at": "2026-01-03T09:00:00+00:00"}
    monkeypatch.setattr(summary_module, "_PARTS", parts)
    client.force_login(admin_user)
    header = _page(client, make_customer()).content.decode().split('id="customer-header"', 1)[1]
    assert "Owner: Bia Costa" in header and "Deal stage: closedwon" in header
    assert 'href="https://app.hubspot.com/contacts/1/record/0-1/42"' in header
    assert "Not linked to HubSpot" not in header
    assert "Pro" in header and "since 2026-01-03" in header


# Timeline: sources, search, collapsed messages --------------------------------------------


def test_each_source_keeps_only_its_own_entries():
    ana = make_customer()
    make_paid_payment(order=make_order(customer=ana))
    _message(ana, "Your order is on its way")
    usage_record(customer=ana, name="feature_used", properties={"feature": "x"}, occurred_at=T0)
    customer_note_add(customer=ana, author=make_staff("s1"), body="Called")
    _crm_event(ana, "crm.deal_won", "crm")
    _crm_event(ana, "customer.plan_activated", "customer")
    expected = {
        "orders": ("order.",),
        "payments": ("payment.", "refund.", "dispute.", "reconciliation."),
        "shipping": ("shipment.",),
        "messages": ("notification.", "consent."),
        "usage": ("usage.",),
        "crm": ("crm.", "customer.plan_activated"),
        "notes": ("note.",),
    }
    assert [s.key for s in TIMELINE_SOURCES] == list(expected)
    for key, prefixes in expected.items():
        types = [e.type for e in customer_timeline(customer=ana, sources=[key]).entries]
        assert all(t.startswith(prefixes) for t in types), (key, types)
        if key != "shipping":
            assert types, key
    crm = {e.type for e in customer_timeline(customer=ana, sources=["crm"]).entries}
    assert crm == {"crm.deal_won", "customer.plan_activated"}
    both = {e.kind for e in customer_timeline(customer=ana, sources=["notes", "usage"]).entries}
    assert both == {"note", "usage"}
    # An unknown source is ignored rather than emptying the timeline.
    everything = customer_timeline(customer=ana).entries
    assert customer_timeline(customer=ana, sources=["nope"]).entries == everything


@pytest.mark.parametrize("driven_max", [500, 1])
def test_search_finds_notes_and_message_texts_only_of_this_customer(monkeypatch, driven_max):
    """Both plans: few matches read through the subject index, many walk the timeline."""
    from accounts.customers import selectors

    monkeypatch.setattr(selectors, "SEARCH_DRIVEN_MAX", driven_max)
    ana, bruno = make_customer(), make_customer()
    staff = make_staff("s1")
    customer_note_add(customer=ana, author=staff, body="Promised a REFUND by Friday")
    customer_note_add(customer=ana, author=staff, body="Likes the blue model")
    _message(ana, "Your refund of R$ 10,00 is on its way", states=2)
    _message(ana, "Welcome aboard", states=1)
    customer_note_add(customer=bruno, author=staff, body="refund for bruno")
    make_paid_payment(order=make_order(customer=ana))

    entries = customer_timeline(customer=ana, search="refund", collapse_messages=True).entries
    assert [e.type for e in entries] == ["notification.sent", "note.added"]
    assert "REFUND" in entries[1].summary
    assert customer_timeline(customer=ana, search="nothing like it").entries == []
    # LIKE wildcards typed by staff are searched for literally.
    assert customer_timeline(customer=ana, search="%").entries == []
    # Search and source together: notes only.
    notes = customer_timeline(customer=ana, search="refund", sources=["notes"]).entries
    assert [e.type for e in notes] == ["note.added"]


@pytest.mark.parametrize(
    ("sources", "prefixes"),
    [
        (["payments"], ("payment.", "refund.")),
        (["payments", "notes"], ("payment.", "refund.", "note.")),
    ],
)
def test_a_source_of_several_kinds_pages_through_everything_once(sources, prefixes):
    ana = make_customer()
    staff = make_staff("s1")
    for i in range(4):
        payment = make_paid_payment(order=make_order(customer=ana, amount=5_000))
        refund_request(
            payment=payment, requested_by=staff, reason=RefundReason.DEFECTIVE, amount=100
        )
        customer_note_add(customer=ana, author=staff, body=f"note {i}")
    expected = [
        e.id
        for e in customer_timeline(customer=ana, limit=200).entries
        if e.type.startswith(prefixes)
    ]
    seen: list[int] = []
    cursor = None
    while True:
        page = customer_timeline(customer=ana, sources=sources, before=cursor, limit=3)
        seen += [e.id for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(expected) > 6
    assert seen == expected


def test_a_messages_states_collapse_into_its_newest_entry_with_each_time():
    ana = make_customer()
    read = _message(ana, "first")
    queued_only = _message(ana, "second", states=1)

    collapsed = customer_timeline(customer=ana, collapse_messages=True).entries
    messages = [e for e in collapsed if e.kind == "notification"]
    assert [(e.subject_id, e.type, e.state) for e in messages] == [
        (str(queued_only.pk), "notification.queued", "queued"),
        (str(read.pk), "notification.read", "read"),
    ]
    assert [s for s, _ in messages[1].states] == ["queued", "sent", "delivered", "read"]
    times = [t for _, t in messages[1].states]
    assert times == sorted(times)
    # Without collapsing every state is its own line (other timelines, the API).
    flat = [e for e in customer_timeline(customer=ana).entries if e.kind == "notification"]
    assert len(flat) == 5


def test_collapsed_timeline_pages_with_filters_kept_in_the_links(client, admin_user):
    ana = make_customer()
    staff = make_staff("s1")
    for i in range(55):
        customer_note_add(customer=ana, author=staff, body=f"note {i} about the parcel")
    client.force_login(admin_user)
    first = _page(client, ana, source="notes", q="parcel")
    html = first.content.decode()
    assert len(first.context["timeline"].entries) == 50
    assert 'href="?source=notes&amp;q=parcel&amp;before=' in html
    cursor = first.context["timeline"].next_cursor
    second = _page(client, ana, source="notes", q="parcel", before=cursor)
    assert len(second.context["timeline"].entries) == 5
    assert 'class="timeline-newest" href="?source=notes&amp;q=parcel#timeline"' in (
        second.content.decode()
    )


def test_empty_states_say_what_was_searched_and_where(client, admin_user):
    ana = make_customer()
    client.force_login(admin_user)
    html = _page(client, ana, source=["orders", "crm"], q="parcel").content.decode()
    assert (
        "No entries from Orders, CRM whose note or message text contains &ldquo;parcel&rdquo;."
        in html
    )
    assert "The search looks in staff notes and in the subject and text of messages" in html
    fresh = Customer.objects.create(name="Nobody", email="nobody@example.test")
    assert "Nothing on this customer's timeline yet." in _page(client, fresh).content.decode()


# The edit form behind its button, still saving ------------------------------------------------


def test_the_edit_form_is_folded_and_still_saves(client, admin_user):
    ana = make_customer(name="Ana Souza", email="ana@example.test")
    client.force_login(admin_user)
    html = _page(client, ana).content.decode()
    assert '<details class="customer-edit" id="customer-edit">' in html
    assert html.index('id="customer-header"') < html.index('id="customer-edit"')
    assert html.index('id="customer-edit"') < html.index('id="timeline"')
    url = reverse("admin:accounts_customer_change", args=[ana.pk])
    response = client.post(
        url,
        {
            "name": "Ana S. Lima",
            "email": "ana@example.test",
            "phone": "",
            "tax_document": "",
            "time_zone": ana.time_zone,
            "identifiers-TOTAL_FORMS": "0",
            "identifiers-INITIAL_FORMS": "0",
            "_continue": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    ana.refresh_from_db()
    assert ana.name == "Ana S. Lima"
    # A refused save shows the form unfolded with its errors.
    refused = client.post(url, {"name": "", "identifiers-TOTAL_FORMS": "0"})
    assert refused.status_code == 200
    assert '<details class="customer-edit" id="customer-edit" open>' in refused.content.decode()


# Query count ----------------------------------------------------------------------------------


def _queries(client, customer, **params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = _page(client, customer, **params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _history(customer: Customer, *, orders: int, events: int, messages: int, notes: int) -> None:
    """Orders, usage events, then messages and notes (the newest): every first page holds a
    message, so each runs the one query that reads its states."""
    staff = make_staff(f"writer{customer.pk}")
    for _ in range(orders):
        make_paid_payment(order=make_order(customer=customer))
    with transaction.atomic():
        for i in range(events):
            record_event(
                type="usage.feature_used",
                customer=customer,
                subject=customer,
                actor_label="product",
                occurred_at=T0 + timedelta(seconds=i),
                data={"properties": {"feature": f"f{i}"}},
            )
    for i in range(max(notes, messages)):
        if i < messages:
            _message(customer, f"message {i} about the parcel", states=1 + i % 4)
        if i < notes:
            customer_note_add(customer=customer, author=staff, body=f"note {i} about the parcel")


@pytest.mark.parametrize(
    "params", [{}, {"source": "messages"}, {"q": "parcel"}, {"source": "notes", "q": "parcel"}]
)
def test_page_query_count_is_the_same_for_a_short_and_a_long_history(client, admin_user, params):
    """The session and user, the customer, the header's summary (14), the timeline (1; 2 with
    a source of several kinds: their newest ids, then the rows; plus 1 per searchable model
    with a search), its messages' states (1 when the page shows one), the usage panel, the
    message-preferences part and the inline identifiers: 24 unfiltered, at most 26, the same
    for 1 order and 4 events as for 12 orders and 400 events."""
    small, big = make_customer(), make_customer()
    _history(small, orders=1, events=1, messages=1, notes=1)
    _history(big, orders=12, events=300, messages=40, notes=60)
    client.force_login(admin_user)
    _queries(client, small, **params)  # warm: content types, the session
    count = _queries(client, small, **params)
    assert count == _queries(client, big, **params)
    assert count <= (24 if not params else 26)
