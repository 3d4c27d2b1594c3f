"""Delay and exception alerts: shipments flagged once per reason for ops and the customer.

A shipment is flagged when it has had no scan for ``SHIPPING_STALE_SCAN_DAYS`` (a label bought
and never posted counts from the shipment's creation), when it is still on its way past the
date its quote promised (``shipping.promises``), or when it failed delivery, is returned to the
sender or is lost at the carrier. Delivered and cancelled shipments never are.

Once per shipment and reason (``ShipmentAlert``'s unique constraint): a shipment that moves on
(a new scan) and stalls again, or fails delivery a second time, is not flagged again for the
same reason; it may be for a new one (late after a stall, lost after a failure). Each alert is
on the order's and customer's timelines (``shipment.delayed`` or ``shipment.exception``), and the
customer is told through the notification rules: about the first delay of a shipment only, and
about each exception.

``shipment_alerts_scan`` finds them (the ``shipping-alerts-scan`` job, hourly, registered by
``migrate``); it reads through indexes within a look-back window and in batches, so a run's work
is bounded whatever the size of the shipments table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access.audit import audit_record
from integrations.events import record_event
from integrations.transitions import lock
from shipping.exceptions import ShipmentAlertNotAllowed
from shipping.models import (
    DELAY_REASONS,
    EXCEPTION_REASON_FOR,
    AlertReason,
    Shipment,
    ShipmentAlert,
    ShipmentStatus,
)
from shipping.promises import local_today
from shipping.selectors import (
    LATE_STATUSES,
    STALE_SCAN_STATUSES,
    UNSCANNED_STATUS,
    shipment_alert_candidates,
)

log = structlog.get_logger(__name__)

NOTE_MAX_LENGTH = 500


def alert_detail(*, shipment: Shipment, reason: AlertReason, now: datetime) -> str | None:
    """Why ``shipment`` deserves an alert for ``reason`` at ``now`` (the line ops read), or
    None when it does not: the same rules as the scan's queries, checked on the locked row."""
    if shipment.status in (ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED):
        return None
    if reason == AlertReason.STALE_SCAN:
        if shipment.status in STALE_SCAN_STATUSES:
            clock, since = shipment.last_tracking_at, "last scan"
        elif shipment.status == UNSCANNED_STATUS:
            clock, since = shipment.created_at, "created, never scanned"
        else:
            return None
        stale_days = settings.SHIPPING_STALE_SCAN_DAYS
        if clock is None or clock >= now - timedelta(days=stale_days):
            return None
        days = (now - clock).days
        return f"No scan for {days} days ({since} {clock:%Y-%m-%d %H:%M} UTC)."
    if reason == AlertReason.PAST_PROMISED_DATE:
        promised = shipment.promised_delivery_on
        if shipment.status not in LATE_STATUSES or promised is None:
            return None
        late_by = (local_today(now) - promised).days
        if late_by <= 0:
            return None
        return f"Promised for {promised.isoformat()}, {late_by} day(s) ago; still {shipment.get_status_display().lower()}."
    if EXCEPTION_REASON_FOR.get(shipment.status) != reason:
        return None
    return f"The carrier reports: {shipment.get_status_display().lower()}."


def shipment_alert_raise(
    *, shipment: Shipment, reason: AlertReason, now: datetime | None = None
) -> ShipmentAlert | None:
    """Flag ``shipment`` for ``reason`` if it deserves it (``alert_detail`` on the locked row)
    and has not been flagged for it before: one ``ShipmentAlert``, and in the same transaction
    the ``shipment.delayed`` or ``shipment.exception`` DomainEvent (timelines, and the customer's
    message through the notification rules).

    Idempotent and safe to race: a second call, concurrent or later, finds the alert (or loses on
    the unique constraint) and returns None, writing nothing. Returns None too when the reason
    does not apply (any more)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            shipment = lock(shipment, "order", "order__customer")
            detail = alert_detail(shipment=shipment, reason=reason, now=now)
            if detail is None:
                return None
            flagged = set(
                ShipmentAlert.objects.filter(shipment=shipment).values_list("reason", flat=True)
            )
            if reason in flagged:
                return None
            delay = reason in DELAY_REASONS
            notify = not (delay and flagged & DELAY_REASONS)
            alert = ShipmentAlert.objects.create(
                shipment=shipment,
                reason=reason,
                detail=detail[:300],
                customer_notified=notify,
                raised_at=now,
            )
            record_event(
                type="shipment.delayed" if delay else "shipment.exception",
                customer=shipment.order.customer,
                subject=shipment,
                actor_label="system",
                occurred_at=now,
                data={
                    "order": shipment.order.number,
                    "carrier": shipment.carrier,
                    "service": shipment.service,
                    "tracking_code": shipment.tracking_code,
                    "reason": str(reason),
                    "reason_label": str(AlertReason(reason).label),
                    "detail": alert.detail,
                    "promised_delivery_on": (
                        shipment.promised_delivery_on.isoformat()
                        if shipment.promised_delivery_on
                        else ""
                    ),
                    "notify_customer": notify,
                },
            )
    except IntegrityError:
        # Another run flagged it between our look and our insert (the unique constraint).
        return None
    log.info("shipping.alert_raised", shipment=shipment.pk, reason=str(reason), notified=notify)
    return alert


@dataclass(frozen=True)
class ScanResult:
    examined: int
    raised: int

    def as_dict(self) -> dict[str, int]:
        return {"examined": self.examined, "raised": self.raised}


def shipment_alerts_scan(
    *, now: datetime | None = None, batch_size: int | None = None, limit: int | None = None
) -> ScanResult:
    """Flag every shipment that deserves an alert and has none for that reason yet
    (``shipment_alert_raise``), reading ``batch_size`` shipments at a time through the
    selectors' indexed queries and at most ``limit`` per run (the next run continues).
    Idempotent; two runs at once flag each shipment and reason once."""
    now = now or timezone.now()
    batch_size = batch_size or settings.SHIPPING_ALERTS_BATCH_SIZE
    limit = limit or settings.SHIPPING_ALERTS_MAX_PER_RUN
    examined = raised = 0
    candidates = shipment_alert_candidates(
        now=now,
        stale_days=settings.SHIPPING_STALE_SCAN_DAYS,
        lookback_days=settings.SHIPPING_ALERTS_LOOKBACK_DAYS,
    )
    for reason, queryset in candidates:
        seen: set[int] = set()
        while examined < limit:
            ids = [
                pk
                for pk in queryset.values_list("pk", flat=True)[: min(batch_size, limit - examined)]
                if pk not in seen
            ]
            if not ids:
                break
            seen.update(ids)
            examined += len(ids)
            for shipment in Shipment.objects.filter(pk__in=ids):
                if shipment_alert_raise(shipment=shipment, reason=reason, now=now) is not None:
                    raised += 1
    return ScanResult(examined=examined, raised=raised)


def shipment_alert_handle(
    *, alert: ShipmentAlert, user: AbstractBaseUser, note: str = ""
) -> ShipmentAlert:
    """Ops mark an open alert handled (with an optional note of what was done): on the
    timelines as ``shipment.alert_handled`` and in the audit log. The shipment is never flagged
    for that reason again. Raises ShipmentAlertNotAllowed when it is already handled or the note
    is too long; nothing is written then."""
    note = note.strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise ShipmentAlertNotAllowed(f"A handling note has at most {NOTE_MAX_LENGTH} characters.")
    with transaction.atomic():
        alert = lock(alert, "shipment", "shipment__order", "shipment__order__customer")
        if alert.status != ShipmentAlert.Status.OPEN:
            raise ShipmentAlertNotAllowed(f"{alert} is already handled.")
        alert.status = ShipmentAlert.Status.HANDLED
        alert.handled_at = timezone.now()
        alert.handled_by_id = user.pk
        alert.handling_note = note
        alert.save(update_fields=["status", "handled_at", "handled_by", "handling_note"])
        shipment = alert.shipment
        record_event(
            type="shipment.alert_handled",
            customer=shipment.order.customer,
            subject=shipment,
            actor=user,
            data={
                "order": shipment.order.number,
                "carrier": shipment.carrier,
                "service": shipment.service,
                "tracking_code": shipment.tracking_code,
                "reason": alert.reason,
                "reason_label": alert.get_reason_display(),
                "note": note,
            },
        )
        audit_record(
            action="shipment_alert_handled",
            actor=user,
            obj=alert,
            changes={"status": [ShipmentAlert.Status.OPEN, alert.status]},
            summary=note,
        )
    return alert
