"""Fallback: a rule's message that failed, or was sent but not delivered within the rule's
window, goes out again on the rule's next channel (e.g. WhatsApp -> SMS -> e-mail).

Two triggers, one step each:

- ``notification_fallback_after_failure``: the subscriber on ``notification.failed`` (a provider
  failure, or a refusal by the send policy: opted out, preference, no opt-in, WhatsApp window,
  suppressed; NOT ``rate_limited``, which another channel would only work around);
- ``notification_fallback_scan``: the periodic job (``notifications-fallback-scan``) finds sent
  notifications with no delivered status after the rule's ``fallback_minutes``.

Each step queues the next channel of the rule that a provider carries and the customer has an
address for, once: the follow-up's dedupe key is ``<event id>:<channel>`` and it records
``previous`` (the one before) with ``previous_reason=fallback``; a notification that already has
a fallback follow-up is not followed again. The step records ``notification.fallback`` on the
customer's timeline, then sends the follow-up; a follow-up that fails falls back again, until the
end of the rule's list.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import structlog
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from integrations import exceptions
from integrations.events import event_payload, record_event
from integrations.models import DomainEvent
from notifications.models import (
    FollowUpReason,
    Notification,
    NotificationChannel,
    NotificationRule,
    NotificationStatus,
    Refusal,
)
from notifications.rules import render_rule
from notifications.workflows import (
    notification_deliver,
    notification_queue_for_rule,
    usable_channels,
)

log = structlog.get_logger(__name__)

NO_FALLBACK_REFUSALS = frozenset({Refusal.RATE_LIMITED})
"""Refusals another channel must not work around."""
SCAN_LOOKBACK = timedelta(days=1)
"""The scan looks at notifications sent at most this long before their window closed: a
notification older than that (history, a long outage of the scan) is not followed up any more."""
SCAN_BATCH = 200
_DEDUPE_KEY = re.compile(r"^(\d+):([a-z]+)$")


def _event_id(notification: Notification) -> int | None:
    match = _DEDUPE_KEY.match(notification.dedupe_key)
    return int(match.group(1)) if match else None


def _fallback_of(notification: Notification) -> Notification | None:
    return notification.follow_ups.filter(previous_reason=FollowUpReason.FALLBACK).first()


def notification_fall_back(*, notification: Notification, why: str) -> Notification | None:
    """Queue and send ``notification``'s message on the next channel of its rule, once. Returns
    the follow-up, or None when there is nothing to do: not a rule's message, the rule inactive
    or gone, no further usable channel, or already followed up. Raises what
    ``notification_deliver`` raises for a provider that says "not now" (the follow-up stays
    queued and is sent by the caller's retry)."""
    existing = _fallback_of(notification)
    if existing is not None:  # a retry: send it if it is still queued
        return notification_deliver(notification=existing)
    event_id = _event_id(notification)
    rule = NotificationRule.objects.filter(template=notification.template, active=True).first()
    if event_id is None or rule is None:
        return None
    channels = rule.channel_list
    if notification.channel not in channels:
        return None
    customer = notification.customer
    later = channels[channels.index(notification.channel) + 1 :]
    remaining = usable_channels(customer, later)
    event = DomainEvent.objects.filter(pk=event_id).first()
    payload = event_payload(event) if event is not None else None
    if not remaining or payload is None:
        return None
    message = render_rule(
        rule, payload, language=customer.language, customer_name=customer.name, force=True
    )
    assert message is not None  # forced
    channel = remaining[0]
    key = f"{event_id}:{channel}"
    with transaction.atomic():
        fresh = not Notification.objects.filter(dedupe_key=key).exists()
        follow_up = notification_queue_for_rule(
            customer=customer,
            order=notification.order,
            channel=channel,
            message=message,
            dedupe_key=key,
            previous=notification,
            previous_reason=FollowUpReason.FALLBACK,
        )
        if fresh:
            record_event(
                type="notification.fallback",
                customer=customer,
                subject=follow_up,
                actor_label="system",
                data={
                    "channel": notification.channel,
                    "channel_label": notification.get_channel_display(),
                    "template": notification.template,
                    "recipient": notification.recipient,
                    "order": notification.order.number if notification.order else "",
                    "why": why,
                    "next_channel": channel,
                    "next_channel_label": NotificationChannel(channel).label,
                    "next_recipient": follow_up.recipient,
                },
            )
    log.info(
        "notification.fallback",
        notification_id=notification.pk,
        follow_up_id=follow_up.pk,
        channel=channel,
    )
    return notification_deliver(notification=follow_up)


def notification_fallback_after_failure(*, event: DomainEvent) -> Notification | None:
    """``notification.failed`` -> the next channel of the rule, unless the failure was a
    ``rate_limited`` refusal. Idempotent: a redelivery finds the follow-up there."""
    if not str(event.subject_id or "").isdigit():
        return None
    notification = (
        Notification.objects.select_related("customer", "order")
        .filter(pk=int(str(event.subject_id)))
        .first()
    )
    if notification is None or notification.status != NotificationStatus.FAILED:
        return None
    if notification.refusal in NO_FALLBACK_REFUSALS:
        return None
    why = f"failed ({notification.error})" if notification.error else "failed"
    return notification_fall_back(notification=notification, why=why)


def notification_fallback_scan(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: each sent notification of an active rule with a further channel, sent
    more than the rule's ``fallback_minutes`` ago (and less than ``SCAN_LOOKBACK`` before that),
    never delivered nor followed up, falls back to the next channel. A follow-up left queued by a
    provider that was down is sent again. Returns the run's counts."""
    now = now or timezone.now()
    counts = {"checked": 0, "fell_back": 0, "resent": 0, "errors": 0}
    stuck = Notification.objects.filter(
        previous_reason=FollowUpReason.FALLBACK,
        status=NotificationStatus.QUEUED,
        created_at__lt=now - timedelta(minutes=1),
        created_at__gte=now - SCAN_LOOKBACK,
    ).order_by("id")[:SCAN_BATCH]
    for queued in stuck:
        try:
            sent = notification_deliver(notification=queued)
        except (exceptions.SwitchboardError, OSError):
            counts["errors"] += 1
            continue
        counts["resent"] += sent.status != NotificationStatus.QUEUED
    follow_ups = Notification.objects.filter(
        previous=OuterRef("pk"), previous_reason=FollowUpReason.FALLBACK
    )
    for rule in NotificationRule.objects.filter(active=True).order_by("id"):
        channels = rule.channel_list
        if len(channels) < 2:
            continue
        cutoff = now - timedelta(minutes=rule.fallback_minutes)
        due = (
            Notification.objects.select_related("customer", "order")
            .filter(
                template=rule.template,
                status=NotificationStatus.SENT,
                channel__in=channels[:-1],
                sent_at__lt=cutoff,
                sent_at__gte=cutoff - SCAN_LOOKBACK,
            )
            .exclude(dedupe_key="")
            .exclude(Exists(follow_ups))
            .order_by("sent_at", "id")[:SCAN_BATCH]
        )
        for notification in due:
            counts["checked"] += 1
            try:
                follow_up = notification_fall_back(
                    notification=notification,
                    why=f"not delivered within {rule.fallback_minutes} min",
                )
            except (exceptions.SwitchboardError, OSError) as exc:
                counts["errors"] += 1
                log.warning(
                    "notification.fallback_failed", notification_id=notification.pk, error=str(exc)
                )
                continue
            counts["fell_back"] += follow_up is not None
    return counts
