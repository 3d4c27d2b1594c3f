"""Helpers for the webhook inbox tests: a throwaway endpoint's handlers, signing, time travel."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.utils import timezone

from accounts.customers.services import customer_identifier_link
from accounts.models import Customer
from integrations.exceptions import InvalidTransition
from integrations.models import WebhookArrival, WebhookEvent
from integrations.webhooks.registry import HandlerOutcome, ParsedWebhook
from integrations.webhooks.standard import standard_webhooks_headers
from orders.models import Order
from orders.services import order_mark_paid

PROVIDER = "test-provider"
URL = f"/webhooks/{PROVIDER}/"
PREVIOUS_SECRET = "whsec_" + base64.b64encode(b"previous-test-secret-of-32-bytes").decode()
UNKNOWN_SECRET = "whsec_" + base64.b64encode(b"an-attackers-guess-of-32-bytes!!").decode()


class ProviderSaidNo(RuntimeError):
    pass


@dataclass
class Handlers:
    """Counts handler runs (thread-safe) and lets a test make the flaky handler fail."""

    calls: list[str] = field(default_factory=list)
    flaky_failures_left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event: WebhookEvent) -> None:
        with self.lock:
            self.calls.append(event.event_id)

    def link_customer(self, event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        self.record(event)
        data = parsed.payload["data"]
        customer = Customer.objects.get(pk=data["customer_pk"])
        customer_identifier_link(customer=customer, system="sandbox", external_id=data["id"])
        return HandlerOutcome(affected=[customer])

    def mark_paid(self, event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        self.record(event)
        order = Order.objects.get(pk=parsed.payload["data"]["order_pk"])
        # Already applied: the domain service refuses the repeated transition.
        with contextlib.suppress(InvalidTransition):
            order = order_mark_paid(order=order, occurred_at=parsed.occurred_at)
        return HandlerOutcome(affected=[order])

    def explode(self, event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        """Writes through a domain service, then fails: the write must be rolled back."""
        self.link_customer(event, parsed)
        raise ProviderSaidNo("provider said no")

    def flaky(self, event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        with self.lock:
            fail = self.flaky_failures_left > 0
            if fail:
                self.flaky_failures_left -= 1
        if fail:
            self.record(event)
            raise ProviderSaidNo("flaky provider")
        return self.link_customer(event, parsed)


def signed(
    event_type: str,
    data: dict[str, Any],
    *,
    msg_id: str | None = None,
    at: datetime | None = None,
    secret: str | None = None,
    occurred_at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A delivery body and its Standard Webhooks headers, signed like the provider would."""
    occurred = occurred_at or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    body = json.dumps({"type": event_type, "timestamp": occurred.isoformat(), "data": data})
    headers = standard_webhooks_headers(
        secret=secret or django_settings.SANDBOX_WEBHOOK_SECRET,
        msg_id=msg_id or f"msg_{uuid.uuid4().hex}",
        body=body,
        at=at or datetime.now(tz=UTC),
    )
    return body.encode(), headers


def sign_raw(body: bytes, *, msg_id: str = "msg_raw") -> dict[str, str]:
    """Headers signing ``body`` exactly as given (for bodies that are not a valid event)."""
    return standard_webhooks_headers(
        secret=django_settings.SANDBOX_WEBHOOK_SECRET,
        msg_id=msg_id,
        body=body.decode(),
        at=datetime.now(tz=UTC),
    )


def stored_keys(**filters: Any) -> list[str]:
    """The event ids stored, whether in the inbox or (the embedded profile's receiver, in
    autocommit) as arrivals the drain has not moved yet; each key once per table it is in."""
    moved = set(WebhookEvent.objects.values_list("event_id", flat=True))
    arrived = WebhookArrival.objects.filter(**filters).values_list("event_id", flat=True)
    inbox = WebhookEvent.objects.filter(**filters).values_list("event_id", flat=True)
    return [*inbox, *(key for key in arrived if key not in moved)]


def awaiting(event_id: str) -> bool:
    """Stored and not processed yet: an arrival not moved, or an inbox row still received."""
    if WebhookEvent.objects.filter(event_id=event_id).exists():
        return WebhookEvent.objects.filter(event_id=event_id, status="received").exists()
    return WebhookArrival.objects.filter(event_id=event_id).exists()


def make_due(event: WebhookEvent) -> None:
    """Fast-forward: the event's retry time has come."""
    WebhookEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
