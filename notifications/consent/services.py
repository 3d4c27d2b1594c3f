"""Writes of the consent ledger: each decision a row, each change of state on the timeline."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer, User
from integrations.events import record_event
from integrations.transitions import lock
from notifications.consent.selectors import latest_consent
from notifications.exceptions import NotificationNotAllowed
from notifications.models import ConsentAction, ConsentRecord, NotificationChannel

SOURCE_MAX_LENGTH = 60
DETAIL_MAX_LENGTH = 200


def _consent_record(
    *,
    customer: Customer,
    channel: str,
    action: ConsentAction,
    source: str,
    detail: str,
    address: str,
    actor: User | None,
    occurred_at: datetime | None,
) -> ConsentRecord:
    if channel not in NotificationChannel.values:
        raise NotificationNotAllowed(f"Unknown notification channel {channel!r}.")
    source = source.strip()[:SOURCE_MAX_LENGTH]
    if not source:
        raise NotificationNotAllowed("A consent decision needs its source.")
    when = occurred_at or timezone.now()
    with transaction.atomic():
        lock(customer)  # one decision at a time per customer
        current = latest_consent(customer_id=customer.pk, channel=channel)
        if current is not None and (current.action == action or when < current.occurred_at):
            return current  # nothing changes: the same word again, or older than the last one
        record = ConsentRecord.objects.create(
            customer=customer,
            channel=channel,
            action=action,
            source=source,
            detail=detail.strip()[:DETAIL_MAX_LENGTH],
            address=address.strip()[:254],
            actor=actor,
            occurred_at=when,
        )
        record_event(
            type="consent.opted_out" if action == ConsentAction.OPT_OUT else "consent.opted_in",
            customer=customer,
            subject=record,
            actor=actor,
            actor_label="" if actor is not None else source,
            occurred_at=when,
            data={
                "channel": channel,
                "channel_label": NotificationChannel(channel).label,
                "source": source,
                "detail": record.detail,
            },
        )
    return record


def consent_opt_out(
    *,
    customer: Customer,
    channel: str,
    source: str,
    detail: str = "",
    address: str = "",
    actor: User | None = None,
    occurred_at: datetime | None = None,
) -> ConsentRecord:
    """Record that ``customer`` wants no more messages on ``channel`` (``consent.opted_out`` on
    the timeline). From then on the notification workflow refuses the channel before any call.

    Idempotent: when the customer is already opted out, or ``occurred_at`` is older than the
    newest decision, the newest record is returned and nothing is written. Raises
    NotificationNotAllowed for an unknown channel or a blank source."""
    return _consent_record(
        customer=customer,
        channel=channel,
        action=ConsentAction.OPT_OUT,
        source=source,
        detail=detail,
        address=address,
        actor=actor,
        occurred_at=occurred_at,
    )


def consent_opt_in(
    *,
    customer: Customer,
    channel: str,
    source: str,
    detail: str = "",
    address: str = "",
    actor: User | None = None,
    occurred_at: datetime | None = None,
) -> ConsentRecord:
    """Record that ``customer`` agrees to messages on ``channel`` again (``consent.opted_in``).
    Idempotent as ``consent_opt_out``."""
    return _consent_record(
        customer=customer,
        channel=channel,
        action=ConsentAction.OPT_IN,
        source=source,
        detail=detail,
        address=address,
        actor=actor,
        occurred_at=occurred_at,
    )
