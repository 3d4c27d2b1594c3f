"""Thin task entry points for the cluster; the work is in ``processing`` and ``retention``."""

from __future__ import annotations

import time

import structlog
from django.conf import settings

from integrations.webhooks.inbox import (
    webhook_arrivals_waiting,
    webhook_drain_lease_seconds,
    webhook_drain_place_release,
    webhook_drain_place_take,
    webhook_drain_wake,
)
from integrations.webhooks.processing import due_webhook_event_ids, process_due_webhooks
from integrations.webhooks.retention import webhooks_prune

log = structlog.get_logger(__name__)
DRAIN_BATCH = 200
DRAIN_POLL_SECONDS = 0.05


def drain(slot: int | None = None, token: str = "") -> int:
    """Woken after events are stored, holding drain place ``slot`` (inbox.webhook_drain_wake):
    process every due event, then keep polling for WEBHOOK_DRAIN_LINGER_SECONDS of quiet (new
    events, or quick retries of facts that beat their object) before returning; never longer than
    WEBHOOK_DRAIN_MAX_SECONDS. While it runs it holds its place on a short lease
    (WEBHOOK_DRAIN_LEASE_SECONDS) that it renews as it works, so the place of a drain killed
    mid-run is free again within the lease. Then it lets go of its place, waits one
    WEBHOOK_WAKE_WINDOW_SECONDS (an event stored meanwhile may have found every place held and its
    wake coalesced away) and wakes a successor if any event is due. A drain whose place was
    presumed lost and taken by another returns at once, or, if that happens while it runs, after
    the events it has claimed. Several drains may run at once: claims keep each event to one
    worker. Returns how many events it ran."""
    lease = None
    if slot is not None:
        lease = _DrainLease(slot=slot, token=token)
        if not lease.take():
            log.info("webhook.drain_place_taken", slot=slot)
            return 0
    try:
        total = _drain_due(lease)
    finally:
        if slot is not None:
            webhook_drain_place_release(slot=slot, token=token)
    if slot is not None:
        time.sleep(settings.WEBHOOK_WAKE_WINDOW_SECONDS)
        if due_webhook_event_ids(limit=1) or webhook_arrivals_waiting():
            try:
                webhook_drain_wake()
            except Exception:  # boundary: the broker is down; the sweeper runs the due events
                log.exception("webhook.drain_rewake_failed", slot=slot)
    return total


class _DrainLease:
    """A running drain's hold on its place: taken for WEBHOOK_DRAIN_LEASE_SECONDS and renewed
    once a third of that has passed, so a drain that dies stops renewing and its place frees up."""

    def __init__(self, *, slot: int, token: str) -> None:
        self.slot = slot
        self.token = token
        self.seconds = webhook_drain_lease_seconds()
        self.renewed = -1e9
        self.lost = False

    def take(self) -> bool:
        """Take or renew the place for one lease; False (for good) once another holds it."""
        if not self.lost and webhook_drain_place_take(
            slot=self.slot, token=self.token, hold_seconds=self.seconds
        ):
            self.renewed = time.monotonic()
            return True
        self.lost = True
        return False

    def keep(self) -> bool:
        """Renew the lease if a third of it has passed; False once another drain took the place."""
        if self.lost:
            return False
        if time.monotonic() - self.renewed < self.seconds / 3:
            return True
        if self.take():
            return True
        log.info("webhook.drain_place_lost", slot=self.slot)
        return False


def _drain_due(lease: _DrainLease | None) -> int:
    keep_going = lease.keep if lease is not None else None
    started = time.monotonic()
    quiet_since = started
    total = 0
    while time.monotonic() - started < settings.WEBHOOK_DRAIN_MAX_SECONDS:
        if keep_going is not None and not keep_going():
            break
        ran = process_due_webhooks(limit=DRAIN_BATCH, keep_going=keep_going)
        total += ran
        now = time.monotonic()
        if ran:
            quiet_since = now
        elif now - quiet_since >= settings.WEBHOOK_DRAIN_LINGER_SECONDS:
            break
        else:
            time.sleep(DRAIN_POLL_SECONDS)
    return total


def sweep() -> int:
    """Every minute: process due received/failed events and re-run timed-out claims. Returns how
    many were run."""
    return process_due_webhooks(
        limit=settings.WEBHOOK_SWEEP_BATCH, time_budget_seconds=settings.WEBHOOK_SWEEP_SECONDS
    )


def prune() -> dict[str, int]:
    """Delete processed/ignored events and rejections past their retention."""
    result = webhooks_prune()
    return {"events": result.events, "rejections": result.rejections, "arrivals": result.arrivals}
