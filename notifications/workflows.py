"""Notification workflows that call the channels: tell the customer about a domain event. The
subscriber in ``notifications.subscribers`` is a one-line call to this.

Provider calls happen outside any transaction. Each message is keyed ``<event id>:<channel>``, so
a retry after a crash or an outage sends only what is still queued and never queues twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from integrations import exceptions
from integrations.deliveries.relay import is_terminal
from integrations.models import DomainEvent
from notifications.channels import get_channel
from notifications.channels.base import OutboundMessage, TemplateMessage
from notifications.consent.services import consent_opt_out
from notifications.exceptions import NotificationNotAllowed, RecipientOptedOut
from notifications.models import Notification, NotificationChannel, NotificationStatus
from notifications.policy.decide import Verdict, notification_policy_decide
from notifications.policy.services import notification_defer, notification_refuse
from notifications.policy.templates import render_content, template_values
from notifications.rules import CustomerMessage, active_rules, customer_message_for
from notifications.services import (
    notification_attachment,
    notification_mark_failed,
    notification_mark_sent,
    notification_queue,
)
from orders.models import Order

log = structlog.get_logger(__name__)

FILE_CHANNELS = frozenset({NotificationChannel.WHATSAPP})
"""Channels that carry a file with the message; the others get the link or code in the text."""


def customer_address(customer: Customer, channel: str) -> str:
    """The customer's address on ``channel`` ('' when none)."""
    return customer.email if channel == NotificationChannel.EMAIL else customer.phone


def channel_configured(channel: str) -> bool:
    """A provider carries ``channel`` here (``MESSAGE_CHANNELS``)."""
    return bool(settings.MESSAGE_CHANNELS.get(channel))


def usable_channels(customer: Customer, channels: Iterable[str]) -> list[str]:
    """Of ``channels`` (in order), those a provider carries and the customer has an address for."""
    return [c for c in channels if channel_configured(c) and customer_address(customer, c)]


def notification_send_for_event(*, event: DomainEvent) -> Notification | None:
    """Send the customer the message of the event's notification rule (``notifications.rules``),
    in the customer's language, on the FIRST channel of the rule that a provider carries and the
    customer has an address for; the next channels are fallbacks (``notifications.fallback``).
    Returns at once (one query) when no active rule names the event's type.

    Idempotent on the event id: the notification is queued once (dedupe key
    ``<event id>:<channel>``) and sent only while still queued. A recipient the services refuse
    (an invalid phone) moves on to the next channel. A terminal provider refusal (a
    ProviderRejected that ``is_terminal``, e.g. RecipientUnreachable: not on WhatsApp) marks the
    notification failed with the provider's reason, not retried (the failure's event triggers
    the fallback). Other provider errors (ProviderUnavailable, a 408/409/429 refusal, the e-mail
    backend's ``OSError``) propagate with the notification still queued, so the caller
    retries."""
    if event.customer_id is None:
        return None
    rules = active_rules(event.type)
    if not rules:
        return None
    customer = Customer.objects.get(pk=event.customer_id)
    message = customer_message_for(
        event, language=customer.language, customer_name=customer.name, rules=rules
    )
    if message is None:
        return None
    order = (
        Order.objects.filter(number=message.order, customer=customer).first()
        if message.order
        else None
    )
    for channel in usable_channels(customer, message.channels):
        try:
            notification = notification_queue_for_rule(
                customer=customer,
                order=order,
                channel=channel,
                message=message,
                dedupe_key=f"{event.pk}:{channel}",
            )
        except NotificationNotAllowed as exc:
            log.warning("notification.skipped", event_id=event.pk, channel=channel, detail=str(exc))
            continue
        return notification_deliver(notification=notification)
    log.info("notification.no_channel", event_id=event.pk, template=message.template)
    return None


def notification_queue_for_rule(
    *,
    customer: Customer,
    order: Order | None,
    channel: str,
    message: CustomerMessage,
    dedupe_key: str,
    previous: Notification | None = None,
    previous_reason: str = "",
) -> Notification:
    """Queue ``message`` (a rule's rendering) on ``channel``, with its file only where the
    channel carries files. Idempotent on ``dedupe_key``."""
    return notification_queue(
        customer=customer,
        order=order,
        channel=channel,
        template=message.template,
        subject=message.subject,
        body=message.body,
        dedupe_key=dedupe_key,
        attachment=message.attachment if channel in FILE_CHANNELS else None,
        category=message.category,
        urgent=message.urgent,
        previous=previous,
        previous_reason=previous_reason,
    )


def notification_deliver(
    *, notification: Notification, now: datetime | None = None
) -> Notification:
    """Hand a queued notification (with its attachment, if any) to the provider carrying its
    channel and mark it sent with the provider's message id; a notification no longer queued is
    returned as it is (idempotent). The send policy (``notifications.policy``) decides first,
    before any call: a refusal (opted out, suppressed, no opt-in, preference, WhatsApp window,
    rate limit) fails the notification with its code and reason; quiet hours defer it
    (``send_after``, sent by ``notification_send_due``); outside WhatsApp's window an approved
    template is sent instead of free text. All of it is on the timeline; ``now`` is the
    policy's clock (the send-due job's run time). A terminal
    provider refusal marks it failed with the provider's reason (an opt-out the provider
    reports, e.g. Twilio's 21610, is also recorded in the consent ledger). ProviderUnavailable
    (CircuitOpen included: nothing was sent) and 408/409/429 refusals propagate with the
    notification still queued, so the caller's retry sends it later: work is queued, never
    lost."""
    if notification.status != NotificationStatus.QUEUED:
        return notification
    channel = notification.channel
    # The send policy (notifications.policy): refused or deferred before any call, the reason
    # on the timeline.
    decision = notification_policy_decide(notification=notification, now=now)
    if decision.verdict == Verdict.REFUSE:
        return notification_refuse(
            notification=notification, refusal=decision.refusal, reason=decision.reason
        )
    if decision.verdict == Verdict.DEFER and decision.send_after is not None:
        return notification_defer(
            notification=notification, send_after=decision.send_after, reason=decision.reason
        )
    customer = notification.customer
    body, template = notification.body, None
    if decision.template is not None:
        values = template_values(decision.template.variables, notification)
        template = TemplateMessage(
            provider_template=decision.template.provider_template, variables=values
        )
        body = render_content(decision.template.content, values) or notification.body
    try:
        sent = get_channel(channel).send(
            message=OutboundMessage(
                reference=f"notification:{notification.pk}",
                channel=channel,
                recipient=notification.recipient,
                subject=notification.subject,
                body=body,
                template=notification.template,
                language=customer.language,
                recipient_name=customer.name,
                attachment=notification_attachment(notification) if template is None else None,
                whatsapp_template=template,
            )
        )
    except RecipientOptedOut as exc:
        return notification_fail_opted_out(notification=notification, error=exc)
    except exceptions.ProviderRejected as exc:
        if not is_terminal(exc):  # 408/409/429: the provider says "not now"
            raise
        # Never goes through (e.g. RecipientUnreachable: not on WhatsApp): failed at once,
        # with the provider's reason, and not retried.
        return notification_mark_failed(notification=notification, error=exc.detail)
    return notification_mark_sent(
        notification=notification,
        provider=sent.provider,
        provider_message_id=sent.provider_message_id,
    )


def notification_fail_opted_out(
    *, notification: Notification, error: RecipientOptedOut
) -> Notification:
    """The provider refused the recipient as opted out (Twilio's 21610: the number sent STOP):
    the opt-out goes into our ledger (so the next message is refused before any call) and the
    notification fails with the provider's reason, in one transaction."""
    with transaction.atomic():
        consent_opt_out(
            customer=notification.customer,
            channel=notification.channel,
            source=f"{error.provider or 'provider'} refused the send (opted out)",
            detail=error.detail,
            address=notification.recipient,
        )
        return notification_mark_failed(notification=notification, error=error.detail)


def notification_send_due(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Deliver the queued notifications whose ``send_after`` has come (deferred by quiet hours),
    oldest first, at most ``limit``; each goes through the policy again (it may be refused now,
    e.g. its WhatsApp window closed overnight). A provider that is down leaves its notification
    queued for the next run. Idempotent; returns the counts of the run."""
    now = now or timezone.now()
    due = list(
        Notification.objects.filter(
            status=NotificationStatus.QUEUED, send_after__isnull=False, send_after__lte=now
        )
        .select_related("customer", "order")
        .order_by("send_after", "id")[:limit]
    )
    counts = {"due": len(due), "sent": 0, "failed": 0, "waiting": 0}
    for notification in due:
        try:
            result = notification_deliver(notification=notification, now=now)
        except (exceptions.SwitchboardError, OSError) as exc:
            log.warning("notification.send_due_retry", notification=notification.pk, error=str(exc))
            counts["waiting"] += 1
            continue
        if result.status == NotificationStatus.FAILED:
            counts["failed"] += 1
        elif result.status == NotificationStatus.QUEUED:
            counts["waiting"] += 1  # deferred again (the customer's quiet hours changed)
        else:
            counts["sent"] += 1
    return counts
