"""Export stored inbox rows as scrubbed replay fixtures (``manage.py export_webhooks``).

A fixture folder holds ``manifest.json`` (the deliveries in the order they were received, each
with its kept headers, ids, type and times) and one body file per delivery, byte for byte what
the scrubber made of the stored body. No signature is exported: the inbox never stores one, and
the replay signs each body again with the test secret. See docs/replay.md.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from integrations.exceptions import SwitchboardError
from integrations.models import WebhookEvent
from integrations.webhooks.scrub import Pseudonymizer, replace_known, scrubber_for

MANIFEST = "manifest.json"
FIXTURE_FORMAT = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ExportRefused(SwitchboardError):
    """The export cannot be written as asked (a folder that already holds a fixture)."""

    code = "export_refused"
    http_status = 409
    title = "Webhook export refused"


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    count: int
    replaced: int
    """How many distinct personal values were replaced by fakes."""


def webhook_events_for_export(
    *,
    provider: str,
    since: datetime,
    until: datetime | None = None,
    event_types: Sequence[str] = (),
) -> QuerySet[WebhookEvent]:
    """The provider's stored deliveries received in ``[since, until)``, oldest first."""
    events = WebhookEvent.objects.filter(provider=provider, received_at__gte=since)
    if until is not None:
        events = events.filter(received_at__lt=until)
    if event_types:
        events = events.filter(event_type__in=list(event_types))
    return events.order_by("received_at", "id")


def webhook_events_export(
    *,
    provider: str,
    since: datetime,
    out: Path,
    until: datetime | None = None,
    event_types: Sequence[str] = (),
    key: bytes | None = None,
) -> ExportResult:
    """Write the selected deliveries to ``out`` as a scrubbed fixture folder.

    Personal data is replaced by fakes derived from ``key`` (a fresh random key per export when
    none is given, so fakes cannot be linked across exports; give one to make an export
    reproducible). Refuses a folder that already holds a manifest. Reads only; writes files."""
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        raise ExportRefused(f"{manifest_path} exists: export into a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    pseudo = Pseudonymizer(key=key or secrets.token_bytes(32))
    scrubber = scrubber_for(provider)
    deliveries: list[dict[str, Any]] = []
    bodies: list[str] = []
    rows = webhook_events_for_export(
        provider=provider, since=since, until=until, event_types=event_types
    )
    for seq, event in enumerate(rows.iterator(), start=1):
        suffix = "txt" if scrubber.body_format == "form" else "json"
        name = f"{seq:04d}-{_UNSAFE.sub('_', event.event_type or 'untyped')[:60]}.{suffix}"
        bodies.append(scrubber.scrub_body(event.body, pseudo))
        deliveries.append(
            {
                "file": name,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "object_id": event.object_id,
                "received_at": event.received_at.isoformat(),
                "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
                "headers": scrubber.scrub_headers(event.headers, pseudo),
            }
        )
    # Again, once every original is known: one learned from a later delivery may be quoted in
    # an earlier one's free text.
    for delivery, body in zip(deliveries, bodies, strict=True):
        (out / delivery["file"]).write_text(replace_known(body, pseudo), encoding="utf-8")
        delivery["headers"] = {k: replace_known(v, pseudo) for k, v in delivery["headers"].items()}
    manifest = {
        "format": FIXTURE_FORMAT,
        "provider": provider,
        "body_format": scrubber.body_format,
        "since": since.isoformat(),
        "until": until.isoformat() if until else None,
        "event_types": list(event_types),
        "deliveries": deliveries,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return ExportResult(folder=out, count=len(deliveries), replaced=len(pseudo.replaced))
