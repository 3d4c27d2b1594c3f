"""The sandbox providers' shared half: sending their signed webhooks back to us.

A sandbox provider (payments, shipping, messaging) answers our calls in-process and then, like a
real provider, POSTs Standard Webhooks-signed events to our own ``/webhooks/sandbox-*/`` URL after
a realistic delay. Settings add chaos: duplicate deliveries, reordering, delays.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django_q.tasks import async_task

from integrations.webhooks.standard import standard_webhooks_headers

log = structlog.get_logger(__name__)

SEND_TIMEOUT_SECONDS = 10
_rng = random.Random()  # noqa: S311 - simulation, not security


@dataclass(frozen=True)
class SandboxEvent:
    type: str
    data: Mapping[str, Any]
    occurred_at: datetime


def sandbox_secret() -> str:
    return str(settings.SANDBOX_WEBHOOK_SECRET)


def sandbox_secrets() -> list[str]:
    return [
        s for s in (settings.SANDBOX_WEBHOOK_SECRET, settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS) if s
    ]


def sandbox_emit(*, endpoint: str, events: Sequence[SandboxEvent]) -> list[str]:
    """Schedule ``events`` for delivery to ``/webhooks/<endpoint>/`` once the caller commits.

    Each event gets its own webhook id; chaos settings may duplicate a delivery (same id) or
    shuffle the order. Returns the webhook ids."""
    deliveries: list[tuple[str, str, int]] = []
    low, high = settings.SANDBOX_DELAY_MIN_MS, settings.SANDBOX_DELAY_MAX_MS
    for index, event in enumerate(events):
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = json.dumps(
            {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": event.data},
            cls=DjangoJSONEncoder,
            separators=(",", ":"),
        )
        # Later facts are sent later, unless chaos reorders them.
        delay = _rng.randint(low, high) + index * high // 4
        deliveries.append((msg_id, body, delay))
        if _rng.random() < settings.SANDBOX_CHAOS_DUPLICATE_RATE:
            deliveries.append((msg_id, body, delay + _rng.randint(low, high)))
    if settings.SANDBOX_CHAOS_REORDER:
        _rng.shuffle(deliveries)
        deliveries = [(m, b, _rng.randint(low, high)) for m, b, _ in deliveries]

    def enqueue() -> None:
        if not settings.SANDBOX_SEND_WEBHOOKS:
            return
        for msg_id, body, delay in deliveries:
            async_task(
                "integrations.sandbox.deliver_sandbox_webhook",
                endpoint,
                msg_id,
                body,
                delay,
                task_name=f"sandbox-webhook-{msg_id}"[:100],
                q_options={"ack_failure": True},
            )

    transaction.on_commit(enqueue, robust=True)
    return [msg_id for msg_id, _, _ in deliveries]


def deliver_sandbox_webhook(endpoint: str, msg_id: str, body: str, delay_ms: int) -> int:
    """Task: wait ``delay_ms`` like a real provider would, then POST the signed event.

    Returns the HTTP status. A non-2xx answer raises, so the task cluster retries it like a
    provider's retry schedule would."""
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    headers = standard_webhooks_headers(
        secret=sandbox_secret(), msg_id=msg_id, body=body, at=datetime.now(tz=UTC)
    )
    headers["content-type"] = "application/json"
    url = f"{settings.SANDBOX_WEBHOOK_TARGET.rstrip('/')}/webhooks/{endpoint}/"
    response = requests.post(url, data=body.encode(), headers=headers, timeout=SEND_TIMEOUT_SECONDS)
    log.info(
        "sandbox.webhook_sent", endpoint=endpoint, webhook_id=msg_id, status=response.status_code
    )
    if response.status_code >= 300:
        raise RuntimeError(f"Our webhook endpoint answered {response.status_code} to {msg_id}.")
    return response.status_code


def sandbox_maybe_fail(provider: str) -> None:
    """Chaos on calls: raise ProviderUnavailable at ``SANDBOX_CHAOS_FAILURE_RATE``."""
    from integrations.exceptions import SwitchboardError

    if _rng.random() < settings.SANDBOX_CHAOS_FAILURE_RATE:
        unavailable: type[SwitchboardError] = _provider_unavailable()
        raise unavailable(f"{provider} sandbox: simulated outage")


def _provider_unavailable() -> Any:
    from integrations import exceptions

    return getattr(exceptions, "ProviderUnavailable", exceptions.SwitchboardError)
