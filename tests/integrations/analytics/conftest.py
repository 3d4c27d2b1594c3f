"""Fixtures of the analytics stream tests: the fake Segment and PostHog on loopback, a warehouse
directory, and a way to record a domain event and run what its commit sets off (the sinks'
deliveries, inline: the test cluster is synchronous)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from accounts.models import Customer
from integrations.deliveries import registry
from integrations.events import record_event
from integrations.models import DomainEvent
from tests.support.fake_posthog import FakePostHog, serve_fake_posthog
from tests.support.fake_segment import FakeSegment, serve_fake_segment


@pytest.fixture(autouse=True)
def only_analytics_subscribers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the sinks' subscribers react: the events these tests record are made up (an order
    event without an order), and other apps' reactions to them would only be noise."""
    monkeypatch.setattr(
        registry,
        "_SUBSCRIBERS",
        {name: s for name, s in registry._SUBSCRIBERS.items() if name.startswith("analytics.")},
    )


HASH_KEY = "test-only-analytics-pii-hash-key-0123456789"


@dataclass
class Sinks:
    segment: FakeSegment
    posthog: FakePostHog
    warehouse: Path

    def warehouse_lines(self) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for path in sorted(self.warehouse.rglob("*.jsonl"))
            for line in path.read_text().splitlines()
        ]

    def everything_sent(self) -> str:
        """Every byte that left for any sink, as text (request bodies unzipped)."""
        parts = []
        for request in [*self.segment.requests, *self.posthog.requests]:
            body = request["body"]
            if request["headers"].get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            parts.append(body.decode())
        parts += [path.read_text() for path in sorted(self.warehouse.rglob("*.jsonl"))]
        return "\n".join(parts)


@pytest.fixture
def sinks(settings: Any, tmp_path: Path) -> Iterator[Sinks]:
    with serve_fake_segment() as segment, serve_fake_posthog() as posthog:
        settings.ANALYTICS_SEGMENT_WRITE_KEY = segment.write_key
        settings.ANALYTICS_SEGMENT_HOST = segment.url
        settings.ANALYTICS_POSTHOG_API_KEY = posthog.api_key
        settings.ANALYTICS_POSTHOG_HOST = posthog.url
        settings.ANALYTICS_WAREHOUSE_DIR = str(tmp_path / "warehouse")
        settings.ANALYTICS_PII_HASH_KEY = HASH_KEY
        settings.ANALYTICS_TIMEOUT_SECONDS = 5
        yield Sinks(segment=segment, posthog=posthog, warehouse=tmp_path / "warehouse")


@pytest.fixture
def commit_event(django_capture_on_commit_callbacks: Any) -> Callable[..., DomainEvent]:
    def _commit(type: str, data: Any, *, customer: Customer | None = None) -> DomainEvent:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            event = record_event(type=type, customer=customer, data=data)
        return DomainEvent.objects.get(pk=event.pk)

    return _commit
