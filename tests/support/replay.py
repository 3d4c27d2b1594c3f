"""Replay a scrubbed fixture folder (written by ``manage.py export_webhooks``) through the real
receiver: each body is signed now with the test secret the test settings hold, POSTed to
``/webhooks/<provider>/`` with the Django test client, and processed after commit by the same
drain the other webhook tests run (the task cluster is synchronous in test settings).

``substitute`` rewrites strings in every body before it is signed: a capture names our rows by
their primary keys (``payment:17``), which differ in the test's database.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from integrations.models import WebhookEvent
from integrations.webhooks.export import MANIFEST
from integrations.webhooks.standard import standard_webhooks_headers
from payments.providers.stripe.client import sign_payload

Signer = Callable[[str, Mapping[str, str], str | None], dict[str, str]]


def _stripe(body: str, kept: Mapping[str, str], secret: str | None) -> dict[str, str]:
    secret = secret or settings.STRIPE_WEBHOOK_SECRETS[0]
    return {"Stripe-Signature": sign_payload(body=body, secret=secret, timestamp=int(time.time()))}


def _asaas(body: str, kept: Mapping[str, str], secret: str | None) -> dict[str, str]:
    return {"asaas-access-token": secret or settings.ASAAS_WEBHOOK_TOKEN}


def _standard(body: str, kept: Mapping[str, str], secret: str | None) -> dict[str, str]:
    return standard_webhooks_headers(
        secret=secret or settings.SANDBOX_WEBHOOK_SECRET,
        msg_id=kept["webhook-id"],
        body=body,
        at=datetime.now(tz=UTC),
    )


SIGNERS: dict[str, Signer] = {"stripe": _stripe, "asaas": _asaas}


def signer_for(provider: str) -> Signer:
    if provider in SIGNERS:
        return SIGNERS[provider]
    if provider.startswith("sandbox-"):
        return _standard
    raise LookupError(f"No replay signer for {provider!r}: add one to tests/support/replay.py.")


@dataclass(frozen=True)
class Delivery:
    file: str
    event_id: str
    event_type: str
    object_id: str
    headers: Mapping[str, str]
    body: str


@dataclass(frozen=True)
class ReplayFolder:
    provider: str
    deliveries: list[Delivery]

    @classmethod
    def load(cls, folder: Path) -> ReplayFolder:
        manifest = json.loads((folder / MANIFEST).read_text())
        return cls(
            provider=manifest["provider"],
            deliveries=[
                Delivery(
                    file=d["file"],
                    event_id=d["event_id"],
                    event_type=d["event_type"],
                    object_id=d["object_id"],
                    headers=d["headers"],
                    body=(folder / d["file"]).read_text(encoding="utf-8"),
                )
                for d in manifest["deliveries"]
            ],
        )

    def payloads(self) -> list[Any]:
        return [json.loads(d.body) for d in self.deliveries]


@dataclass
class ReplayResult:
    """What the replay did: each delivery's HTTP status and the inbox rows it left."""

    provider: str
    status_codes: list[int] = field(default_factory=list)
    events: list[WebhookEvent] = field(default_factory=list)

    @property
    def statuses(self) -> Counter[str]:
        return Counter(event.status for event in self.events)


def replay_folder(
    *,
    client: Any,
    capture_on_commit: Any,
    folder: Path,
    substitute: Mapping[str, str] | None = None,
    only: Callable[[Delivery], bool] | None = None,
    secret: str | None = None,
) -> ReplayResult:
    """POST every delivery of ``folder`` (or those ``only`` keeps) in order, signed now with the
    test secret; processing runs after each commit. Returns the responses' codes and the inbox
    rows of the deliveries sent. ``secret`` signs with another secret than the test settings'
    (to show a replay is verified like any delivery)."""
    loaded = ReplayFolder.load(folder)
    sent = [d for d in loaded.deliveries if only is None or only(d)]
    sign = signer_for(loaded.provider)
    result = ReplayResult(provider=loaded.provider)
    content_type = "application/json"
    for delivery in sent:
        body = delivery.body
        for old, new in (substitute or {}).items():
            body = body.replace(old, new)
        kept = dict(delivery.headers)
        content_type = kept.pop("content-type", content_type)
        with capture_on_commit(execute=True):
            response = client.post(
                f"/webhooks/{loaded.provider}/",
                data=body.encode(),
                content_type=content_type,
                headers={**kept, **sign(body, kept, secret)},
            )
        result.status_codes.append(response.status_code)
    result.events = list(
        WebhookEvent.objects.filter(
            provider=loaded.provider, event_id__in=[d.event_id for d in sent]
        ).order_by("received_at", "id")
    )
    return result
