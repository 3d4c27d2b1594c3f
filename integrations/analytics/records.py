"""From a committed DomainEvent to the one record every sink sends (schema version 1).

``analytics_record(event)`` names the record after its source (``register_analytics_source``:
the usage app makes a ``usage.tracked`` event the product's own event name and properties),
applies the PII rules to its properties, and gives it an id that is the same every time the
event is exported (a redelivery, a backfill), so Segment (messageId), PostHog (uuid) and the
warehouse (file name) each keep it once. The schema is documented in docs/analytics.md.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured

from integrations.analytics.pii import looks_like_pii, redact
from integrations.models import DomainEvent

SCHEMA_VERSION = 1
DEFAULT_SOURCE = "switchboard"


@dataclass(frozen=True)
class AnalyticsSource:
    """How the events of some types are named and described for analytics. ``describe(event)``
    answers the analytics event name and its properties before the PII rules."""

    name: str
    event_types: frozenset[str]
    describe: Callable[[DomainEvent], tuple[str, Mapping[str, Any]]]


_SOURCES: dict[str, AnalyticsSource] = {}


def register_analytics_source(source: AnalyticsSource) -> None:
    """Called from an app's ``AppConfig.ready``; a type has at most one source."""
    for event_type in source.event_types:
        existing = _SOURCES.get(event_type)
        if existing is not None and existing != source:
            raise ImproperlyConfigured(
                f"{event_type!r} already has the analytics source {existing.name!r}."
            )
        _SOURCES[event_type] = source


def analytics_source_for(event_type: str) -> AnalyticsSource | None:
    return _SOURCES.get(event_type)


@dataclass(frozen=True)
class AnalyticsRecord:
    """One domain event as the sinks send it, its properties already through the PII rules."""

    id: str
    event_id: int
    type: str
    name: str
    source: str
    customer_id: int | None
    occurred_at: datetime
    recorded_at: datetime
    subject_type: str
    subject_id: str
    properties: dict[str, Any]
    hashed: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def user_id(self) -> str | None:
        """Segment's userId and PostHog's distinct_id: our customer id, as text."""
        return None if self.customer_id is None else str(self.customer_id)

    def as_json(self) -> dict[str, Any]:
        """The warehouse line (schema version 1, docs/analytics.md)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "event_id": self.event_id,
            "type": self.type,
            "name": self.name,
            "source": self.source,
            "customer_id": self.customer_id,
            "occurred_at": _iso(self.occurred_at),
            "recorded_at": _iso(self.recorded_at),
            "subject": {"type": self.subject_type, "id": self.subject_id}
            if self.subject_type
            else None,
            "properties": self.properties,
            "pii": {"hashed": list(self.hashed), "dropped": list(self.dropped)},
        }

    def sink_properties(self) -> dict[str, Any]:
        """The properties Segment and PostHog get: the event's, plus where it came from."""
        extra = {
            "switchboard_event_id": self.event_id,
            "switchboard_event_type": self.type,
            "schema_version": SCHEMA_VERSION,
        }
        if self.subject_type:
            extra["subject_type"] = self.subject_type
            extra["subject_id"] = self.subject_id
        return {**self.properties, **extra}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_id(event_id: int) -> str:
    """The stable id of one domain event's export: a UUID (PostHog wants one), derived from
    ``ANALYTICS_SOURCE`` and the event's id, so every export of the event carries the same."""
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{settings.ANALYTICS_SOURCE}:domain-event:{event_id}")
    )


def _describe_default(event: DomainEvent) -> tuple[str, Mapping[str, Any]]:
    data = event.data if isinstance(event.data, Mapping) else {}
    return event.type, data


EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,99}")
"""What a source's event name may be; anything else (words with spaces, an e-mail) is not a
name but data, and the record goes under the domain event's type instead."""


def analytics_record(event: DomainEvent) -> AnalyticsRecord:
    """The record of ``event``. Needs no query unless the event has a subject whose content
    type is not cached yet. Never includes the subject's or actor's label (they hold names)."""
    source = analytics_source_for(event.type)
    name, raw = source.describe(event) if source else _describe_default(event)
    if not EVENT_NAME.fullmatch(name) or looks_like_pii(name):
        name = event.type
    properties, redaction = redact(event.type, raw)
    subject_type = ""
    if event.subject_type_id:
        content_type = ContentType.objects.get_for_id(event.subject_type_id)
        subject_type = f"{content_type.app_label}.{content_type.model}"
    return AnalyticsRecord(
        id=message_id(event.pk),
        event_id=event.pk,
        type=event.type,
        name=name,
        source=source.name if source else DEFAULT_SOURCE,
        customer_id=event.customer_id,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        subject_type=subject_type,
        subject_id=(event.subject_id or "") if subject_type else "",
        properties=properties,
        hashed=tuple(redaction.hashed),
        dropped=tuple(redaction.dropped),
    )
