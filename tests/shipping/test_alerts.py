"""Delay and exception alerts (issue 12 item 6): a shipment with no scan for N days, past its
promised date, or failed, returned or lost at the carrier is flagged once per reason, on the ops
list and the timelines, and the customer is told once; delivered and cancelled ones never are."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from accounts.access.roles import sync_roles
from accounts.customers.selectors import customer_timeline
from accounts.models import AuditLogEntry, Customer
from integrations.models import DomainEvent
from integrations.schedules import MAIN, SCHEDULES
from notifications.models import Notification
from orders.selectors import order_timeline
from shipping.alerts import shipment_alert_handle, shipment_alert_raise, shipment_alerts_scan
from shipping.exceptions import ShipmentAlertNotAllowed
from shipping.models import AlertReason, Shipment, ShipmentAlert, ShipmentStatus
from shipping.promises import local_today, promised_delivery_date
from shipping.services import (
    shipment_apply_tracking,
    shipment_cancel,
    shipment_create,
    shipment_purchase_label,
)
from shipping.tasks import scan_alerts
from shipping.workflows import shipment_start_for_order
from tests.factories import make_customer, make_paid_payment, make_staff
from tests.support.shipping import EmitRecorder

S = ShipmentStatus
R = AlertReason
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday, noon in Sao Paulo
TODAY = local_today(NOW)


def _shipment(
    customer: Customer | None = None, *, promised: date | None = None, label: bool = True
) -> Shipment:
    order = make_paid_payment(customer=customer or make_customer()).order
    shipment = shipment_create(
        order=order, carrier="sandbox", service="economy", promised_delivery_on=promised
    )
    if label:
        shipment = shipment_purchase_label(
            shipment=shipment, tracking_code=f"SB{shipment.pk:09d}BR"
        )
    return shipment


def _scanned(shipment: Shipment, *path: str, at: datetime) -> Shipment:
    """The carrier's scans along ``path``, the last one at ``at`` (the others an hour apart)."""
    for index, status in enumerate(path):
        shipment = shipment_apply_tracking(
            shipment=shipment,
            status=status,
            occurred_at=at - timedelta(hours=len(path) - 1 - index),
        )
    return shipment


def _alerts(shipment: Shipment) -> list[str]:
    return sorted(ShipmentAlert.objects.filter(shipment=shipment).values_list("reason", flat=True))


def _events(shipment: Shipment, *types: str) -> list[DomainEvent]:
    return list(
        DomainEvent.objects.filter(subject_id=str(shipment.pk), type__in=types).order_by("id")
    )


# Promised delivery dates -------------------------------------------------------------------


def test_business_days_skip_weekends_and_the_listed_holidays(settings: Any) -> None:
    friday = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)

    assert promised_delivery_date(start=friday, business_days=1) == date(2026, 3, 9)  # Monday
    assert promised_delivery_date(start=friday, business_days=2) == date(2026, 3, 10)
    assert promised_delivery_date(start=friday, business_days=0) == date(2026, 3, 6)
    saturday = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    assert promised_delivery_date(start=saturday, business_days=1) == date(2026, 3, 9)

    settings.SHIPPING_HOLIDAYS = ["2026-03-09"]
    assert promised_delivery_date(start=friday, business_days=1) == date(2026, 3, 10)
    assert promised_delivery_date(start=friday, business_days=2) == date(2026, 3, 11)


def test_days_are_counted_in_the_shipping_calendars_time_zone(settings: Any) -> None:
    # 01:00 UTC on a Tuesday is still Monday evening in Sao Paulo.
    late_monday = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)

    assert promised_delivery_date(start=late_monday, business_days=1) == date(2026, 3, 10)
    settings.SHIPPING_TIME_ZONE = "UTC"
    assert promised_delivery_date(start=late_monday, business_days=1) == date(2026, 3, 11)


def test_a_shipment_opened_from_a_quote_keeps_the_date_it_promised(
    paid_order: Any, emitted: EmitRecorder
) -> None:
    before = datetime.now(tz=UTC)
    shipment_start_for_order(order_id=paid_order.pk)

    shipment = Shipment.objects.get(order=paid_order)
    assert shipment.service == "economy"  # the sandbox's cheapest: 8 business days
    assert shipment.promised_delivery_on == promised_delivery_date(start=before, business_days=8)
    assert shipment.promised_delivery_on.weekday() < 5


# Flagged once per reason ---------------------------------------------------------------------


def _stale(customer: Customer) -> Shipment:
    return _scanned(_shipment(customer), S.POSTED, S.IN_TRANSIT, at=NOW - timedelta(days=6))


def _stale_unposted(customer: Customer) -> Shipment:
    shipment = _shipment(customer)
    Shipment.objects.filter(pk=shipment.pk).update(created_at=NOW - timedelta(days=6))
    return shipment


def _late(customer: Customer) -> Shipment:
    shipment = _shipment(customer, promised=TODAY - timedelta(days=1))
    return _scanned(shipment, S.POSTED, S.IN_TRANSIT, at=NOW - timedelta(hours=3))


def _in(*path: str) -> Callable[[Customer], Shipment]:
    def make(customer: Customer) -> Shipment:
        return _scanned(_shipment(customer), S.POSTED, *path, at=NOW - timedelta(hours=3))

    return make


CASES = {
    "no scan for 6 days": (_stale, R.STALE_SCAN, "shipment.delayed"),
    "label bought 6 days ago, never posted": (_stale_unposted, R.STALE_SCAN, "shipment.delayed"),
    "past its promised date": (_late, R.PAST_PROMISED_DATE, "shipment.delayed"),
    "delivery failed": (_in(S.DELIVERY_FAILED), R.DELIVERY_FAILED, "shipment.exception"),
    "returned to sender": (_in(S.DELIVERY_FAILED, S.RETURNED), R.RETURNED, "shipment.exception"),
    "lost": (_in(S.LOST), R.LOST, "shipment.exception"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_reason_is_flagged_once_however_often_the_scan_runs(
    case: str, customer: Customer
) -> None:
    make, reason, event_type = CASES[case]
    shipment = make(customer)

    first = shipment_alerts_scan(now=NOW)
    second = shipment_alerts_scan(now=NOW + timedelta(hours=1))

    assert first.raised == 1 and second.raised == 0
    assert _alerts(shipment) == [reason]
    alert = ShipmentAlert.objects.get(shipment=shipment)
    assert alert.status == ShipmentAlert.Status.OPEN
    assert alert.detail
    events = _events(shipment, "shipment.delayed", "shipment.exception")
    assert [e.type for e in events] == [event_type]
    assert events[0].data["reason"] == reason
    assert events[0].data["notify_customer"] is True
    assert events[0].customer_id == customer.pk


def test_on_time_shipments_are_left_alone(customer: Customer) -> None:
    recent = _scanned(_shipment(customer), S.POSTED, S.IN_TRANSIT, at=NOW - timedelta(days=4))
    due_today = _scanned(_shipment(customer, promised=TODAY), S.POSTED, at=NOW - timedelta(hours=2))
    no_label_yet = _shipment(customer, label=False)  # pending: not a scan problem

    result = shipment_alerts_scan(now=NOW)

    assert result.raised == 0
    assert not ShipmentAlert.objects.exists()
    for shipment in (recent, due_today, no_label_yet):
        assert _events(shipment, "shipment.delayed", "shipment.exception") == []


def test_delivered_and_cancelled_shipments_are_never_flagged(customer: Customer) -> None:
    long_ago = NOW - timedelta(days=20)
    delivered = _scanned(
        _shipment(customer, promised=TODAY - timedelta(days=10)),
        S.POSTED,
        S.DELIVERY_FAILED,
        S.DELIVERED,
        at=long_ago,
    )
    cancelled = _shipment(customer, promised=TODAY - timedelta(days=10))
    cancelled = shipment_cancel(shipment=cancelled, reason="Customer changed their mind")
    Shipment.objects.filter(pk=cancelled.pk).update(created_at=long_ago)
    assert delivered.status == S.DELIVERED and cancelled.status == S.CANCELLED

    result = shipment_alerts_scan(now=NOW)
    for reason in R:  # and not even when asked directly
        assert shipment_alert_raise(shipment=delivered, reason=reason, now=NOW) is None
        assert shipment_alert_raise(shipment=cancelled, reason=reason, now=NOW) is None

    assert result.raised == 0
    assert not ShipmentAlert.objects.exists()
    assert not DomainEvent.objects.filter(
        type__in=["shipment.delayed", "shipment.exception"]
    ).exists()


def test_a_shipment_that_moves_on_is_flagged_again_only_for_a_new_reason(
    customer: Customer,
) -> None:
    shipment = _stale(customer)
    shipment_alerts_scan(now=NOW)
    assert _alerts(shipment) == [R.STALE_SCAN]

    # A new scan, then silence again: stale a second time, not flagged a second time.
    shipment = _scanned(shipment, S.OUT_FOR_DELIVERY, at=NOW + timedelta(days=1))
    later = NOW + timedelta(days=8)
    assert shipment_alerts_scan(now=later).raised == 0
    assert _alerts(shipment) == [R.STALE_SCAN]

    # A new reason is news: the delivery fails.
    shipment = _scanned(shipment, S.DELIVERY_FAILED, at=later + timedelta(hours=1))
    assert shipment_alerts_scan(now=later + timedelta(hours=2)).raised == 1
    assert _alerts(shipment) == [R.DELIVERY_FAILED, R.STALE_SCAN]


def test_a_handled_alert_is_not_raised_again(customer: Customer) -> None:
    shipment = _stale(customer)
    shipment_alerts_scan(now=NOW)
    alert = ShipmentAlert.objects.get(shipment=shipment)

    shipment_alert_handle(alert=alert, user=make_staff("ops", role="ops"), note="Asked carrier.")
    shipment_alerts_scan(now=NOW + timedelta(hours=1))

    assert list(ShipmentAlert.objects.values_list("reason", "status")) == [
        (R.STALE_SCAN, ShipmentAlert.Status.HANDLED)
    ]


def test_a_run_is_bounded_and_the_next_one_continues(customer: Customer) -> None:
    shipments = [_stale(customer) for _ in range(5)]

    first = shipment_alerts_scan(now=NOW, batch_size=2, limit=3)
    assert (first.examined, first.raised) == (3, 3)
    second = shipment_alerts_scan(now=NOW, batch_size=2, limit=3)
    assert second.raised == 2
    assert ShipmentAlert.objects.filter(shipment__in=shipments).count() == 5


def test_past_the_look_back_window_nothing_is_read(customer: Customer, settings: Any) -> None:
    settings.SHIPPING_ALERTS_LOOKBACK_DAYS = 3
    forgotten = _scanned(_shipment(customer), S.POSTED, at=NOW - timedelta(days=9))

    assert shipment_alerts_scan(now=NOW).examined == 0
    assert _alerts(forgotten) == []


# The customer is told once; the timelines show it ---------------------------------------------


def test_the_customer_is_told_about_a_delay_once_and_about_an_exception(
    customer: Customer, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(
        "notifications.channels.sandbox.adapter.sandbox_emit", EmitRecorder()
    )  # the sandbox WhatsApp channel's receipts, which this test does not follow
    shipment = _stale(customer)
    Shipment.objects.filter(pk=shipment.pk).update(promised_delivery_on=TODAY - timedelta(days=2))
    number = shipment.order.number

    with django_capture_on_commit_callbacks(execute=True):
        shipment_alerts_scan(now=NOW)
        shipment_alerts_scan(now=NOW + timedelta(hours=1))

    # Stale and late: two alerts for ops, one delay message for the customer.
    assert _alerts(shipment) == [R.PAST_PROMISED_DATE, R.STALE_SCAN]
    notified = ShipmentAlert.objects.filter(shipment=shipment, customer_notified=True)
    assert notified.count() == 1
    # On the rule's first channel (WhatsApp), in the customer's language (pt-BR by default).
    [delayed] = Notification.objects.filter(customer=customer, template="shipment_delayed")
    assert delayed.channel == "whatsapp"
    assert delayed.subject == f"O pedido {number} está demorando mais do que o previsto"
    assert shipment.tracking_code in delayed.body

    shipment = _scanned(shipment, S.DELIVERY_FAILED, at=NOW + timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        shipment_alerts_scan(now=NOW + timedelta(hours=3))
        shipment_alerts_scan(now=NOW + timedelta(hours=4))

    [exception] = Notification.objects.filter(customer=customer, template="shipment_exception")
    assert exception.subject == f"O pedido {number}: a transportadora não conseguiu entregar"
    assert mail.outbox == []  # WhatsApp went out: no e-mail fallback


def test_the_alert_is_on_the_order_and_customer_timelines(customer: Customer) -> None:
    shipment = _late(customer)

    shipment_alerts_scan(now=NOW)

    order_entries = [
        e for e in order_timeline(order=shipment.order) if e.type == "shipment.delayed"
    ]
    customer_entries = [
        e
        for e in customer_timeline(customer=customer, kinds=["shipment"]).entries
        if e.type == "shipment.delayed"
    ]
    assert len(order_entries) == len(customer_entries) == 1
    summary = order_entries[0].summary
    assert shipment.tracking_code in summary
    assert "Past the promised delivery date" in summary
    assert (TODAY - timedelta(days=1)).isoformat() in summary


# Two runs at once ------------------------------------------------------------------------------

JOIN_TIMEOUT = 60


@pytest.mark.django_db(transaction=True)
def test_two_scans_at_once_flag_each_shipment_and_reason_once() -> None:
    customer = make_customer()
    shipments = [_stale(customer) for _ in range(4)] + [_in(S.LOST)(customer) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[Any] = []

    def scan() -> None:
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            results.append(shipment_alerts_scan(now=NOW, batch_size=2))
        except BaseException as exc:  # reported by the test, not lost in the thread
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)

    assert not any(thread.is_alive() for thread in threads)
    assert all(not isinstance(r, BaseException) for r in results), results
    assert sum(r.raised for r in results) == 6
    assert ShipmentAlert.objects.count() == 6
    for shipment in shipments:
        assert len(_alerts(shipment)) == 1
        assert len(_events(shipment, "shipment.delayed", "shipment.exception")) == 1


# Handling, the ops list and the job ------------------------------------------------------------


def test_ops_mark_an_alert_handled_on_the_timeline_and_in_the_audit_log(
    customer: Customer,
) -> None:
    shipment = _stale(customer)
    shipment_alerts_scan(now=NOW)
    alert = ShipmentAlert.objects.get()
    ops = make_staff("ops", role="ops")

    handled = shipment_alert_handle(alert=alert, user=ops, note="  Carrier says Friday. ")

    assert handled.status == ShipmentAlert.Status.HANDLED
    assert handled.handled_by == ops and handled.handled_at is not None
    assert handled.handling_note == "Carrier says Friday."
    (event,) = _events(shipment, "shipment.alert_handled")
    assert event.actor_id == ops.pk
    assert event.data["note"] == "Carrier says Friday."
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.SHIPMENT_ALERT_HANDLED)
    assert entry.actor == ops and entry.object_id == str(alert.pk)
    with pytest.raises(ShipmentAlertNotAllowed):
        shipment_alert_handle(alert=alert, user=ops)
    assert len(_events(shipment, "shipment.alert_handled")) == 1


@pytest.fixture
def roles(db: None) -> None:
    sync_roles()


def _changelist(client: Any, **params: str) -> str:
    response = client.get(reverse("admin:shipping_shipmentalert_changelist"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_ops_list_shows_what_needs_attention_until_handled(
    customer: Customer, client: Any, roles: None
) -> None:
    stale, lost = _stale(customer), _in(S.LOST)(customer)
    shipment_alerts_scan(now=NOW)
    ops = make_staff("ops", role="ops")
    client.force_login(ops)

    page = _changelist(client)
    assert "Needs attention" in page
    assert stale.order.number in page and lost.order.number in page

    alert = ShipmentAlert.objects.get(shipment=lost)
    response = client.post(
        reverse("admin:shipping_shipmentalert_handle", args=[alert.pk]), {"note": "Refunded."}
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == ShipmentAlert.Status.HANDLED

    page = _changelist(client)
    assert stale.order.number in page and lost.order.number not in page
    assert lost.order.number in _changelist(client, status="handled")
    assert lost.order.number in _changelist(client, status="all")


def test_support_reads_the_list_but_cannot_handle_an_alert(
    customer: Customer, client: Any, roles: None
) -> None:
    shipment = _stale(customer)
    shipment_alerts_scan(now=NOW)
    alert = ShipmentAlert.objects.get()
    client.force_login(make_staff("support", role="support"))

    assert shipment.order.number in _changelist(client)
    page = client.get(reverse("admin:shipping_shipmentalert_change", args=[alert.pk]))
    assert page.status_code == 200 and b"alert-handle-button" not in page.content
    response = client.post(reverse("admin:shipping_shipmentalert_handle", args=[alert.pk]))

    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.status == ShipmentAlert.Status.OPEN
    assert not DomainEvent.objects.filter(type="shipment.alert_handled").exists()


def test_the_scan_is_an_hourly_job_on_the_main_cluster(customer: Customer) -> None:
    (job,) = [job for job in SCHEDULES if job.name == "shipping-alerts-scan"]
    assert (job.func, job.minutes, job.cluster) == ("shipping.tasks.scan_alerts", 60, MAIN)

    shipment = _scanned(_shipment(customer), S.POSTED, at=datetime.now(tz=UTC) - timedelta(days=9))
    assert scan_alerts() == {"examined": 1, "raised": 1}
    assert _alerts(shipment) == [R.STALE_SCAN]
