"""Ops are told when a webhook event goes dead: one e-mail per dead transition.

``webhook_dead_alert`` is called by processing only on the transition to ``dead`` that this
worker recorded (its claim fenced the write), so one event going dead is announced once; the mail
leaves after the surrounding transaction commits. The recipients are the active users of the groups
named in OPS_ALERT_GROUPS (the ops and admin roles by default): integrations imports no domain app,
it finds them through django.contrib.auth.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from integrations.models import WebhookEvent

log = structlog.get_logger(__name__)


def ops_alert_emails() -> list[str]:
    """E-mail addresses of the active users in the OPS_ALERT_GROUPS groups, sorted."""
    users = (
        get_user_model()
        .objects.filter(groups__name__in=settings.OPS_ALERT_GROUPS, is_active=True)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def webhook_event_admin_url(event: WebhookEvent) -> str:
    path = reverse("admin:integrations_webhookevent_change", args=[event.pk])
    return f"{settings.OPS_ALERT_BASE_URL.rstrip('/')}{path}"


def webhook_dead_alert(*, event_id: int) -> None:
    """After the current transaction commits, e-mail ops that event ``event_id`` is dead."""
    transaction.on_commit(lambda: _send_dead_alert(event_id=event_id))


def _send_dead_alert(*, event_id: int) -> None:
    """Never raises: a mail server down must not turn a recorded failure into a worker crash."""
    try:
        event = WebhookEvent.objects.filter(pk=event_id, status=WebhookEvent.Status.DEAD).first()
        recipients = ops_alert_emails()
        if event is None or not recipients:
            return
        send_mail(
            subject=f"Webhook event dead: {event.provider} {event.event_type} ({event.event_id})",
            message=(
                "A webhook event will not be retried again; replay it from its page once the "
                "cause is fixed.\n\n"
                f"Provider: {event.provider}\n"
                f"Event type: {event.event_type}\n"
                f"Event id: {event.event_id}\n"
                f"Attempts: {event.attempts}\n"
                f"Last error: {event.last_error or '-'}\n"
                f"Admin: {webhook_event_admin_url(event)}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # boundary: the alert is best effort, the row already tells the outcome
        log.exception("webhook.dead_alert_failed", webhook_event=event_id)
