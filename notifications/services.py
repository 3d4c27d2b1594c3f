"""Notifications: one message to one customer on one channel, followed through the provider.

Every status change goes through ``NOTIFICATION_TRANSITIONS`` and records one DomainEvent. Provider
status callbacks repeat themselves, so marking a notification with the status it already has is a
no-op (no write, no event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.customers.validators import normalize_phone
from accounts.models import Customer, User
from integrations.events import record_event
from integrations.transitions import ensure_transition, lock
from notifications.channels.base import Attachment
from notifications.exceptions import InvalidRecipient, NotificationNotAllowed
from notifications.models import (
    NOTIFICATION_TRANSITIONS,
    AttachmentKind,
    EmailSuppression,
    FollowUpReason,
    MessageCategory,
    Notification,
    NotificationAttachment,
    NotificationChannel,
    NotificationStatus,
    SuppressionReason,
)
from orders.models import Order

ERROR_MAX_LENGTH = 200
DEDUPE_KEY_MAX_LENGTH = 100
ATTACHMENT_MAX_CHARS = 8 * 1024 * 1024
"""A data: URI of a few MB (base64); larger files go by URL."""
ATTACHMENT_FILENAME_MAX_LENGTH = 200


def _notification_data(notification: Notification, **extra: Any) -> dict[str, Any]:
    return {
        "channel": notification.channel,
        "channel_label": notification.get_channel_display(),
        "template": notification.template,
        "recipient": notification.recipient,
        "order": notification.order.number if notification.order is not None else "",
        **extra,
    }


def _clean_recipient(*, customer: Customer, channel: NotificationChannel, recipient: str) -> str:
    if channel == NotificationChannel.EMAIL:
        address = (recipient or customer.email).strip().lower()
        if not address:
            raise InvalidRecipient(f"{customer} has no e-mail address to send {channel.label} to.")
        try:
            validate_email(address)
        except ValidationError:
            raise InvalidRecipient(f"'{address}' is not an e-mail address.") from None
        return address
    phone = (recipient or customer.phone).strip()
    if not phone:
        raise InvalidRecipient(f"{customer} has no phone number to send {channel.label} to.")
    try:
        return normalize_phone(phone)
    except ValidationError:
        raise InvalidRecipient(f"'{phone}' is not a valid phone number.") from None


def _clean_attachment(attachment: Attachment | None) -> Attachment | None:
    if attachment is None:
        return None
    if attachment.kind not in AttachmentKind.values:
        raise NotificationNotAllowed(f"Unknown attachment kind {attachment.kind!r}.")
    source = attachment.source.strip()
    is_url = source.startswith("https://") and not any(c.isspace() for c in source)
    head = source.split(",", 1)[0]
    is_data = source.startswith("data:") and head.endswith(";base64") and "," in source
    if not (is_url or is_data):
        raise NotificationNotAllowed("An attachment is an https:// URL or a base64 data: URI.")
    if len(source) > ATTACHMENT_MAX_CHARS:
        raise NotificationNotAllowed("The attachment is too large to send inline; use a URL.")
    filename = attachment.filename.strip()
    if len(filename) > ATTACHMENT_FILENAME_MAX_LENGTH or any(c in filename for c in "\r\n\x00"):
        raise NotificationNotAllowed("The attachment's file name is not valid.")
    return Attachment(kind=attachment.kind, source=source, filename=filename)


def notification_attachment(notification: Notification) -> Attachment | None:
    """The file sent with ``notification``, or None."""
    try:
        row = notification.attachment
    except NotificationAttachment.DoesNotExist:
        return None
    return Attachment(kind=row.kind, source=row.source, filename=row.filename)


def notification_queue(
    *,
    customer: Customer,
    channel: str,
    template: str,
    body: str,
    subject: str = "",
    recipient: str = "",
    dedupe_key: str = "",
    occurred_at: datetime | None = None,
    order: Order | None = None,
    attachment: Attachment | None = None,
    category: str = MessageCategory.TRANSACTIONAL,
    urgent: bool = False,
    previous: Notification | None = None,
    previous_reason: str = "",
) -> Notification:
    """Queue a message for ``customer``, about ``order`` when it concerns one (the order's page
    then lists it). ``category`` and ``urgent`` are what the send policy decides on;
    ``previous`` (with ``previous_reason``: fallback or resend) links a follow-up to the
    notification it follows. The recipient defaults to the customer's e-mail (email)
    or phone (whatsapp, sms); a phone is stored in E.164, an e-mail lower-cased.

    Idempotent on a non-blank ``dedupe_key``: a repeated key returns the notification already
    queued under it, whatever its status, and writes nothing (no row, no event), even when two
    callers race. Raises NotificationNotAllowed for an unknown channel, a blank template or body or
    a key longer than 100 characters, InvalidRecipient (a NotificationNotAllowed) for no valid
    recipient, and for an attachment that is not an https:// URL or a base64 data: URI (or is
    too large); nothing is written then."""
    dedupe_key = dedupe_key.strip()
    if len(dedupe_key) > DEDUPE_KEY_MAX_LENGTH:
        raise NotificationNotAllowed(
            f"A dedupe key has at most {DEDUPE_KEY_MAX_LENGTH} characters."
        )
    if dedupe_key:
        existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    if channel not in NotificationChannel.values:
        raise NotificationNotAllowed(f"Unknown notification channel {channel!r}.")
    template = template.strip()
    if not template:
        raise NotificationNotAllowed("A notification needs a template key.")
    if not body.strip():
        raise NotificationNotAllowed("A notification needs a body.")
    if category not in MessageCategory.values:
        raise NotificationNotAllowed(f"Unknown message category {category!r}.")
    if (previous is None) != (not previous_reason):
        raise NotificationNotAllowed("A follow-up names both the notification and the reason.")
    if previous_reason and previous_reason not in FollowUpReason.values:
        raise NotificationNotAllowed(f"Unknown follow-up reason {previous_reason!r}.")
    kind = NotificationChannel(channel)
    address = _clean_recipient(customer=customer, channel=kind, recipient=recipient)
    file = _clean_attachment(attachment)
    try:
        with transaction.atomic():
            notification = _notification_create(
                customer=customer,
                kind=kind,
                template=template,
                address=address,
                subject=subject,
                body=body,
                dedupe_key=dedupe_key,
                occurred_at=occurred_at,
                order=order,
                attachment=file,
                follow_up=_FollowUp(
                    category=MessageCategory(category),
                    urgent=urgent,
                    previous=previous,
                    reason=previous_reason,
                ),
            )
    except IntegrityError:
        # Another caller queued the same key between our look-up and our insert.
        existing = (
            Notification.objects.filter(dedupe_key=dedupe_key).first() if dedupe_key else None
        )
        if existing is None:
            raise
        return existing
    return notification


@dataclass(frozen=True)
class _FollowUp:
    category: MessageCategory
    urgent: bool
    previous: Notification | None
    reason: str


def _notification_create(
    *,
    customer: Customer,
    kind: NotificationChannel,
    template: str,
    address: str,
    subject: str,
    body: str,
    dedupe_key: str,
    occurred_at: datetime | None,
    order: Order | None,
    attachment: Attachment | None,
    follow_up: _FollowUp,
) -> Notification:
    notification = Notification.objects.create(
        category=follow_up.category,
        urgent=follow_up.urgent,
        previous=follow_up.previous,
        previous_reason=follow_up.reason,
        customer=customer,
        order=order,
        channel=kind,
        template=template,
        recipient=address,
        subject=subject.strip(),
        body=body,
        dedupe_key=dedupe_key,
    )
    if attachment is not None:
        NotificationAttachment.objects.create(
            notification=notification,
            kind=attachment.kind,
            source=attachment.source,
            filename=attachment.filename,
        )
    record_event(
        type="notification.queued",
        customer=customer,
        subject=notification,
        actor_label="system",
        occurred_at=occurred_at,
        data=_notification_data(notification),
    )
    return notification


def _timestamps(
    notification: Notification, target: NotificationStatus, when: datetime
) -> dict[str, datetime]:
    if target == NotificationStatus.SENT:
        return {"sent_at": when}
    if target == NotificationStatus.DELIVERED:
        return {"delivered_at": when}
    if target == NotificationStatus.READ:
        # A read message was delivered, whether or not the provider said so.
        return {"read_at": when, "delivered_at": notification.delivered_at or when}
    return {}


def _notification_transition(
    *,
    notification: Notification,
    target: NotificationStatus,
    occurred_at: datetime | None,
    changes: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Notification:
    with transaction.atomic():
        notification = lock(notification, "order")
        if notification.status == target:
            return notification
        ensure_transition(
            entity=str(notification),
            current=notification.status,
            target=target,
            allowed=NOTIFICATION_TRANSITIONS,
        )
        when = occurred_at or timezone.now()
        changes = {**(changes or {}), **_timestamps(notification, target, when)}
        notification.status = target
        for field, value in changes.items():
            setattr(notification, field, value)
        notification.save(update_fields=["status", "updated_at", *changes])
        record_event(
            type=f"notification.{target}",
            customer=notification.customer,
            subject=notification,
            actor_label=notification.provider or "system",
            occurred_at=when,
            data=_notification_data(notification, **(data or {})),
        )
    return notification


def notification_mark_sent(
    *,
    notification: Notification,
    provider: str,
    provider_message_id: str,
    occurred_at: datetime | None = None,
) -> Notification:
    """queued -> sent, keeping the provider and its message id. Idempotent on an already sent
    notification; raises NotificationNotAllowed for a blank provider and InvalidTransition from
    any other status."""
    provider = provider.strip()
    if not provider:
        raise NotificationNotAllowed("A sent notification needs the provider that sent it.")
    return _notification_transition(
        notification=notification,
        target=NotificationStatus.SENT,
        occurred_at=occurred_at,
        changes={
            "provider": provider,
            "provider_message_id": provider_message_id.strip(),
        },
        data={"provider": provider, "provider_message_id": provider_message_id.strip()},
    )


def notification_mark_delivered(
    *, notification: Notification, occurred_at: datetime | None = None
) -> Notification:
    """sent -> delivered. Idempotent on an already delivered notification; raises
    InvalidTransition from any other status (a read one stays read)."""
    return _notification_transition(
        notification=notification,
        target=NotificationStatus.DELIVERED,
        occurred_at=occurred_at,
    )


def notification_mark_read(
    *, notification: Notification, occurred_at: datetime | None = None
) -> Notification:
    """sent or delivered -> read; a read message was delivered, so ``delivered_at`` is filled in
    when the provider never said so. Idempotent on an already read notification; raises
    InvalidTransition from queued or failed."""
    return _notification_transition(
        notification=notification, target=NotificationStatus.READ, occurred_at=occurred_at
    )


def notification_mark_failed(
    *,
    notification: Notification,
    error: str,
    occurred_at: datetime | None = None,
    refusal: str = "",
) -> Notification:
    """queued or sent -> failed, keeping the provider's error, or the send policy's ``refusal``
    code (``Refusal``) and its sentence. Idempotent on an already failed notification (the first
    error is kept); raises InvalidTransition once delivered or read."""
    error = error.strip()
    changes: dict[str, Any] = {"error": error[:ERROR_MAX_LENGTH]}
    data: dict[str, Any] = {"error": error}
    if refusal:
        changes["refusal"] = data["refusal"] = refusal
    return _notification_transition(
        notification=notification,
        target=NotificationStatus.FAILED,
        occurred_at=occurred_at,
        changes=changes,
        data=data,
    )


def notification_apply_provider_status(
    *,
    notification: Notification,
    status: NotificationStatus,
    occurred_at: datetime | None,
    error: str = "",
) -> Notification:
    """Apply the provider's word that the message is ``status`` (delivered, read or failed) at
    ``occurred_at``, under the notification's watermark (``provider_updated_at``, the newest
    provider fact applied): an older fact is a no-op; a newer one goes through the mark service
    and moves the watermark. A delivery told after the read keeps its own time as
    ``delivered_at`` (until then the read's time stood in for it). Raises InvalidTransition for
    a move the map refuses (a failure after the delivery), ValueError for another status."""
    marks = {
        NotificationStatus.DELIVERED: lambda n: notification_mark_delivered(
            notification=n, occurred_at=occurred_at
        ),
        NotificationStatus.READ: lambda n: notification_mark_read(
            notification=n, occurred_at=occurred_at
        ),
        NotificationStatus.FAILED: lambda n: notification_mark_failed(
            notification=n, error=error, occurred_at=occurred_at
        ),
    }
    if status not in marks:
        raise NotificationNotAllowed(f"{status!r} is not a status a provider reports.")
    with transaction.atomic():
        current = lock(notification)
        if (
            status == NotificationStatus.DELIVERED
            and current.status == NotificationStatus.READ
            and occurred_at is not None
        ):
            if current.delivered_at is None or occurred_at < current.delivered_at:
                current.delivered_at = occurred_at
                current.save(update_fields=["delivered_at", "updated_at"])
            return current
        watermark = current.provider_updated_at
        if occurred_at is not None and watermark is not None and occurred_at < watermark:
            return current  # stale: the provider already told us something newer
        current = marks[status](current)
        if occurred_at is not None and (watermark is None or occurred_at > watermark):
            current.provider_updated_at = occurred_at
            current.save(update_fields=["provider_updated_at", "updated_at"])
    return current


def _suppression_event(type_: str, suppression: EmailSuppression, actor: User | None) -> None:
    customer = Customer.objects.filter(email__iexact=suppression.address).first()
    record_event(
        type=type_,
        customer=customer,
        subject=suppression.notification or suppression,
        actor=actor,
        actor_label="system" if actor is None else "",
        data={
            "address": suppression.address,
            "reason": suppression.reason,
            "reason_label": suppression.get_reason_display(),
            "detail": suppression.detail,
        },
    )


def email_suppression_add(
    *,
    address: str,
    reason: str,
    detail: str = "",
    provider: str = "",
    notification: Notification | None = None,
    actor: User | None = None,
) -> EmailSuppression:
    """Put ``address`` on the suppression list (idempotent: an active entry is returned as is).
    Records ``notification.email_suppressed`` on the customer's timeline."""
    address = address.strip().lower()
    with transaction.atomic():
        existing = (
            EmailSuppression.objects.select_for_update()
            .filter(address=address, cleared_at__isnull=True)
            .first()
        )
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                suppression = EmailSuppression.objects.create(
                    address=address,
                    reason=SuppressionReason(reason),
                    detail=detail.strip()[:300],
                    provider=provider,
                    notification=notification,
                )
        except IntegrityError:  # another report of the same address got there first
            return EmailSuppression.objects.get(address=address, cleared_at__isnull=True)
        _suppression_event("notification.email_suppressed", suppression, actor)
    return suppression


def email_suppression_clear(*, suppression: EmailSuppression, actor: User) -> EmailSuppression:
    """Lift the suppression (staff checked the address works again): kept for the record with
    who and when; e-mail to the address is sent again. Idempotent."""
    with transaction.atomic():
        current = lock(suppression)
        if current.cleared_at is not None:
            return current
        current.cleared_at = timezone.now()
        current.cleared_by = actor
        current.save(update_fields=["cleared_at", "cleared_by"])
        _suppression_event("notification.email_suppression_cleared", current, actor)
    return current
