"""Outbound webhook services: endpoints (create, rotate the secret, enable, disable), the
fan-out of a committed domain event into messages, resend, recover since a time, test messages,
and waking the drain that sends them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from integrations.alerts.services import staff_alert_endpoint_disabled
from integrations.audit_hook import audit
from integrations.events import record_event, registered_event_types
from integrations.exceptions import SwitchboardError
from integrations.models import DomainEvent, WebhookEndpoint, WebhookMessage
from integrations.transitions import lock
from integrations.webhooks_out.signing import secret_generate, secret_seal
from integrations.webhooks_out.ssrf import check_url

log = structlog.get_logger(__name__)

Status = WebhookMessage.Status
TEST_EVENT_TYPE = "webhook.test"
DRAIN_TASK = "integrations.webhooks_out.tasks.drain"
WAKE_KEY = "webhooks_out:drain-awake"
WAKE_SECONDS = 60
"""A queued or running drain holds the wake key this long at most (it deletes it as it ends)."""
RESENDABLE = frozenset({Status.SUCCEEDED, Status.FAILED, Status.DEAD, Status.SKIPPED})
RECOVERABLE = frozenset({Status.FAILED, Status.DEAD, Status.SKIPPED})


class InvalidSubscription(SwitchboardError):
    """An endpoint subscribed to an event type nobody registered (or a malformed pattern)."""

    code = "invalid_webhook_subscription"
    http_status = 400
    title = "Unknown event type in subscription"


class MessageNotResendable(SwitchboardError):
    """A message being sent right now (or already waiting to be) cannot be resent."""

    code = "webhook_message_not_resendable"
    http_status = 409
    title = "Message is already on its way"


def new_msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def subscription_matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether ``event_type`` is among ``patterns``: exact types, ``"*"`` (every type) or
    ``"<kind>.*"`` (every type of a kind)."""
    kind = event_type.split(".", 1)[0]
    return any(p == "*" or p == event_type or p == f"{kind}.*" for p in patterns)


_SUBSCRIPTIONS: tuple[float, frozenset[str]] | None = None
"""(read at, on the monotonic clock; every active endpoint's patterns): the cache behind
``someone_subscribes_to``."""


def subscriptions_changed(**_: object) -> None:
    """Forget the cached subscriptions (an endpoint was saved or deleted in this process)."""
    global _SUBSCRIPTIONS
    _SUBSCRIPTIONS = None


_TABLE_SEEN = False


def _endpoint_table_exists() -> bool:
    """Whether the endpoints' table is there: not yet on a database half way through its
    migrations (a data migration that records events runs before this app's tables exist).
    Once seen, never asked again in this process."""
    global _TABLE_SEEN
    if not _TABLE_SEEN:
        _TABLE_SEEN = WebhookEndpoint._meta.db_table in connection.introspection.table_names()
    return _TABLE_SEEN


def someone_subscribes_to(event_type: str) -> bool:
    """Whether an active endpoint subscribes to ``event_type``: asked by the delivery registry
    when an event is recorded, so events nobody subscribes to (a usage batch of 500, most
    events on a business without endpoints) cost no Delivery row and no task. The patterns are
    read at most once per ``WEBHOOKS_OUT_SUBSCRIPTIONS_TTL_SECONDS`` (1 s) per process, and
    again at once after an endpoint changes in this process: a subscription made in another
    process takes effect within that second."""
    global _SUBSCRIPTIONS
    now = time.monotonic()
    ttl = float(settings.WEBHOOKS_OUT_SUBSCRIPTIONS_TTL_SECONDS)
    if _SUBSCRIPTIONS is None or now - _SUBSCRIPTIONS[0] >= ttl:
        patterns: set[str] = set()
        if _endpoint_table_exists():
            for types in WebhookEndpoint.objects.filter(active=True).values_list(
                "event_types", flat=True
            ):
                patterns.update(types or [])
        _SUBSCRIPTIONS = (now, frozenset(patterns))
    return subscription_matches(_SUBSCRIPTIONS[1], event_type)


def subscription_clean(patterns: Iterable[str]) -> list[str]:
    """The patterns, deduplicated and sorted, once each names registered types; raises
    InvalidSubscription listing the unknown ones."""
    known = registered_event_types()
    kinds = {t.kind for t in known.values()}
    cleaned = sorted({p.strip() for p in patterns if p.strip()})
    unknown = [
        p for p in cleaned if not (p == "*" or p in known or (p.endswith(".*") and p[:-2] in kinds))
    ]
    if unknown:
        raise InvalidSubscription(f"Unknown event types: {', '.join(unknown)}.")
    if not cleaned:
        raise InvalidSubscription("Subscribe to at least one event type (or *).")
    return cleaned


def endpoint_create(
    *,
    url: str,
    event_types: Sequence[str],
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Create an active endpoint with a fresh secret; returns it and the secret, which is shown
    this once and stored only encrypted. Raises EndpointRefused for a URL the SSRF guard refuses
    outright (scheme, literal private address), InvalidSubscription for unknown event types,
    ImproperlyConfigured without ``CREDENTIALS_KEYS``."""
    check_url(url)
    secret = secret_generate()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            description=description,
            event_types=subscription_clean(event_types),
            secret_ciphertext=secret_seal(secret),
        )
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str,
    event_types: Sequence[str],
    description: str,
    active: bool,
) -> WebhookEndpoint:
    """Change an endpoint's URL, subscriptions, description or state. Enabling it again clears
    the failure clock and the reason it was disabled. Raises EndpointRefused, InvalidSubscription."""
    check_url(url)
    cleaned = subscription_clean(event_types)
    with transaction.atomic():
        endpoint = lock(endpoint)
        enabling = active and not endpoint.active
        endpoint.url = url
        endpoint.event_types = cleaned
        endpoint.description = description
        endpoint.active = active
        if enabling:
            endpoint.first_failure_at = None
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
        if not active and endpoint.disabled_at is None:
            endpoint.disabled_at = timezone.now()
            endpoint.disabled_reason = endpoint.disabled_reason or "Disabled by staff."
        endpoint.save()
    return endpoint


def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, actor: Any = None, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new secret; the current one becomes the previous secret and keeps
    signing alongside it for ``WEBHOOKS_OUT_ROTATION_GRACE_SECONDS``. Returns the endpoint and
    the new secret (shown once). Records ``webhook_endpoint.secret_rotated``."""
    now = now or timezone.now()
    secret = secret_generate()
    valid_until = now + timedelta(seconds=settings.WEBHOOKS_OUT_ROTATION_GRACE_SECONDS)
    with transaction.atomic():
        endpoint = lock(endpoint)
        endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
        endpoint.previous_secret_expires_at = valid_until
        endpoint.secret_ciphertext = secret_seal(secret)
        endpoint.save(
            update_fields=[
                "previous_secret_ciphertext",
                "previous_secret_expires_at",
                "secret_ciphertext",
                "updated_at",
            ]
        )
        record_event(
            type="webhook_endpoint.secret_rotated",
            subject=endpoint,
            actor=actor,
            data={
                "endpoint_id": endpoint.pk,
                "url": str(endpoint),
                "previous_valid_until": valid_until.isoformat(),
            },
        )
        audit("webhook_secret_rotated", actor=actor, obj=endpoint)
    return endpoint, secret


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str, actor: Any = None) -> bool:
    """Disable an active endpoint: nothing more is sent to it. Records
    ``webhook_endpoint.disabled`` and tells ops (staff alert, after commit). Returns False (and
    does nothing) when it was already disabled."""
    with transaction.atomic():
        endpoint = lock(endpoint)
        if not endpoint.active:
            return False
        endpoint.active = False
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = reason[:300]
        endpoint.save(update_fields=["active", "disabled_at", "disabled_reason", "updated_at"])
        record_event(
            type="webhook_endpoint.disabled",
            subject=endpoint,
            actor=actor,
            data={"endpoint_id": endpoint.pk, "url": str(endpoint), "reason": reason[:300]},
        )
        staff_alert_endpoint_disabled(
            endpoint_id=endpoint.pk,
            endpoint_url=endpoint.url,
            reason=reason,
            admin_url=reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]),
        )
    log.warning("webhook_out.endpoint_disabled", endpoint_id=endpoint.pk, reason=reason)
    return True


def endpoints_disable_failing(*, endpoint_ids: Sequence[int], now: datetime | None = None) -> int:
    """Disable those of ``endpoint_ids`` that are active and have had no success since a first
    failure ``WEBHOOKS_OUT_DISABLE_AFTER_SECONDS`` (5 days) ago; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBHOOKS_OUT_DISABLE_AFTER_SECONDS)
    days = settings.WEBHOOKS_OUT_DISABLE_AFTER_SECONDS / 86400
    disabled = 0
    for endpoint in WebhookEndpoint.objects.filter(
        pk__in=endpoint_ids, active=True, first_failure_at__lte=cutoff
    ):
        reason = (
            f"Every attempt failed for {days:g} days (first failure "
            f"{endpoint.first_failure_at:%Y-%m-%d %H:%M} UTC, no success since)."
        )
        disabled += endpoint_disable(endpoint=endpoint, reason=reason)
    return disabled


def messages_fan_out(*, event: DomainEvent) -> int:
    """Write one message per active endpoint subscribed to the event's type, at most once per
    (endpoint, event) however often it is called; queue a drain after commit. Returns how many
    messages this call wrote."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(active=True).only("pk", "event_types")
        if subscription_matches(endpoint.event_types or [], event.type)
    ]
    if not endpoints:
        return 0
    now = timezone.now()
    existing = set(
        WebhookMessage.objects.filter(event=event, endpoint__in=endpoints).values_list(
            "endpoint_id", flat=True
        )
    )
    created = WebhookMessage.objects.bulk_create(
        [
            WebhookMessage(
                endpoint=endpoint,
                event=event,
                event_type=event.type,
                msg_id=new_msg_id(),
                next_attempt_at=now,
                created_at=now,
            )
            for endpoint in endpoints
            if endpoint.pk not in existing
        ],
        ignore_conflicts=True,
    )
    if created:
        transaction.on_commit(drain_wake)
    return len(created)


def endpoint_send_test(*, endpoint: WebhookEndpoint, actor: Any = None) -> WebhookMessage:
    """Queue a ``webhook.test`` message to the endpoint (even a disabled one is tried: the test
    tells whether it works again)."""
    with transaction.atomic():
        message = WebhookMessage.objects.create(
            endpoint=endpoint,
            event=None,
            event_type=TEST_EVENT_TYPE,
            msg_id=new_msg_id(),
            test_payload={"message": "A test event from Switchboard."},
        )
        audit("webhook_test_sent", actor=actor, obj=endpoint)
        transaction.on_commit(drain_wake)
    return message


def message_resend(*, message: WebhookMessage, actor: Any = None) -> WebhookMessage:
    """Send a finished message again (same ``webhook-id``, a fresh schedule of attempts), after
    commit. Raises MessageNotResendable for one pending or being sent."""
    with transaction.atomic():
        message = lock(message)
        if message.status not in RESENDABLE:
            raise MessageNotResendable(
                f"Message {message.msg_id} is {message.get_status_display().lower()}."
            )
        previous = message.status
        _requeue(WebhookMessage.objects.filter(pk=message.pk))
        audit(
            "webhook_message_resent",
            actor=actor,
            obj=message,
            changes={"status": [previous, Status.PENDING]},
        )
        transaction.on_commit(drain_wake)
    message.refresh_from_db()
    return message


def messages_recover(*, endpoint: WebhookEndpoint, since: datetime, actor: Any = None) -> int:
    """Queue again every message to the endpoint created at or after ``since`` that failed (dead,
    waiting for a retry, or skipped while the endpoint was disabled), with a fresh schedule;
    returns how many."""
    with transaction.atomic():
        count = _requeue(
            WebhookMessage.objects.filter(
                endpoint=endpoint, status__in=RECOVERABLE, created_at__gte=since
            )
        )
        audit(
            "webhook_messages_recovered",
            actor=actor,
            obj=endpoint,
            changes={"since": [None, since.isoformat()], "messages": [None, count]},
        )
        if count:
            transaction.on_commit(drain_wake)
    return count


def _requeue(messages: Any) -> int:
    return int(
        messages.update(
            status=Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            completed_at=None,
            claimed_at=None,
        )
    )


def drain_wake() -> bool:
    """Queue a drain unless one is queued or running (the wake key); True if one was queued.
    Never raises: with the broker down the sweeper sends the messages."""
    from django_q.tasks import async_task

    try:
        if not cache.add(WAKE_KEY, 1, timeout=WAKE_SECONDS):
            return False
    except Exception:  # the cache is a boundary: without it, queue a drain anyway
        log.warning("webhook_out.wake_key_unavailable", exc_info=True)
    try:
        async_task(DRAIN_TASK, task_name="webhooks-out-drain", group="webhooks_out", save=False)
    except Exception:  # the broker is a boundary: the sweeper sends what is due
        log.warning("webhook_out.drain_enqueue_failed", exc_info=True)
        drain_asleep()
        return False
    return True


def drain_asleep() -> None:
    """A drain is ending: the next message must queue a new one."""
    try:
        cache.delete(WAKE_KEY)
    except Exception:  # the cache is a boundary
        log.warning("webhook_out.wake_key_unavailable", exc_info=True)
