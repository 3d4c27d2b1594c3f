"""Reads of the consent ledger."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Customer
from notifications.models import ConsentAction, ConsentRecord, NotificationChannel


@dataclass(frozen=True)
class ConsentState:
    channel: str
    record: ConsentRecord | None
    """The newest decision, or None when the customer never said anything about the channel."""

    @property
    def opted_out(self) -> bool:
        return self.record is not None and self.record.action == ConsentAction.OPT_OUT


def latest_consent(*, customer_id: int, channel: str) -> ConsentRecord | None:
    """The newest ledger row of (customer, channel), by the customer's time, then by id. One
    indexed query."""
    return (
        ConsentRecord.objects.filter(customer_id=customer_id, channel=channel)
        .order_by("-occurred_at", "-id")
        .first()
    )


def consent_state(*, customer_id: int, channel: str) -> ConsentState:
    """The current consent of the customer for ``channel``."""
    return ConsentState(
        channel=channel, record=latest_consent(customer_id=customer_id, channel=channel)
    )


def consent_states(*, customer_id: int) -> dict[str, ConsentState]:
    """The current consent of the customer on every channel (one query per channel)."""
    return {
        channel: consent_state(customer_id=customer_id, channel=channel)
        for channel in NotificationChannel.values
    }


def consent_refusal(*, customer_id: int, channel: str) -> str | None:
    """Why a message to the customer on ``channel`` must not be sent, or None when it may."""
    state = consent_state(customer_id=customer_id, channel=channel)
    if not state.opted_out or state.record is None:
        return None
    record = state.record
    label = NotificationChannel(channel).label
    return f"The customer opted out of {label} on {record.occurred_at:%Y-%m-%d %H:%M} UTC ({record.source})."


def customers_with_phone(phone: str) -> list[Customer]:
    """Customers whose phone is exactly ``phone`` (E.164), oldest first (indexed)."""
    return list(Customer.objects.filter(phone=phone).order_by("pk"))
