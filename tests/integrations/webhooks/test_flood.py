"""Forged deliveries cannot grow the database: every refusal is counted per provider and hour,
only a bounded sample is kept (headers capped), and past a source's per-minute limit a refusal
touches no table at all. Valid deliveries are never limited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.models import WebhookEvent, WebhookRejection
from integrations.models.webhooks import WebhookRejectionCounter
from integrations.webhooks import inbox
from integrations.webhooks.retention import webhooks_prune
from tests.integrations.webhooks.support import PROVIDER, UNKNOWN_SECRET, log_lines, signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def flood_settings(settings):
    settings.WEBHOOK_REJECTION_SAMPLES_PER_HOUR = 5
    settings.WEBHOOK_REJECTION_SAMPLES_PER_SOURCE = 100
    settings.WEBHOOK_REJECTION_SOURCE_LIMIT = 1000
    settings.WEBHOOK_REJECTION_FLUSH_SECONDS = 0
    return settings


def _forged(i: int, *, junk_headers: int = 0, junk_bytes: int = 0) -> tuple[bytes, dict]:
    body, headers = signed("customer.linked", {"id": f"cus_f{i}"}, secret=UNKNOWN_SECRET)
    headers |= {f"x-junk-{n}": "j" * junk_bytes for n in range(junk_headers)}
    return body, headers


def _counter() -> WebhookRejectionCounter:
    return WebhookRejectionCounter.objects.get(provider=PROVIDER)


def _stored_header_bytes() -> int:
    return sum(
        len(json.dumps(h)) for h in WebhookRejection.objects.values_list("headers", flat=True)
    )


def test_a_flood_of_forged_deliveries_keeps_a_bounded_sample_and_counts_every_one(
    handlers, deliver, flood_settings
):
    for i in range(60):
        response = deliver(*_forged(i, junk_headers=90, junk_bytes=7000), REMOTE_ADDR=f"10.0.0.{i}")
        assert response.status_code == 401
    assert WebhookRejection.objects.count() == 5
    counter = _counter()
    assert (counter.rejected, counter.sampled, counter.limited) == (60, 5, 0)
    # 60 deliveries carried 37 MB of headers; the samples keep a few kilobytes.
    assert _stored_header_bytes() < 5 * 4000
    assert not WebhookEvent.objects.exists()


def test_kept_headers_are_capped_in_number_and_size(handlers, deliver, flood_settings):
    body, headers = _forged(1, junk_headers=90, junk_bytes=7000)
    headers["x-" + "n" * 300] = "v"
    deliver(body, headers)
    kept = WebhookRejection.objects.get().headers
    assert len(kept) == flood_settings.WEBHOOK_REJECTION_HEADER_COUNT + 1
    assert kept["…"].endswith("more header(s) not kept")
    assert all(len(name) <= 64 and len(value) <= 65 for name, value in kept.items())
    assert kept["webhook-id"] == headers["webhook-id"]
    assert kept["x-junk-0"] == "j" * 64 + "…"


def test_one_source_cannot_use_up_the_hours_samples(handlers, deliver, flood_settings):
    flood_settings.WEBHOOK_REJECTION_SAMPLES_PER_SOURCE = 2
    for i in range(10):
        deliver(*_forged(i), REMOTE_ADDR="203.0.113.7")
    deliver(*_forged(99), REMOTE_ADDR="198.51.100.1")
    kept = [str(a) for a in WebhookRejection.objects.values_list("remote_addr", flat=True)]
    assert sorted(kept) == ["198.51.100.1", "203.0.113.7", "203.0.113.7"]
    assert _counter().rejected == 11


def test_past_the_source_limit_a_refusal_is_only_counted_in_memory(
    handlers, deliver, flood_settings, json_log
):
    flood_settings.WEBHOOK_REJECTION_SOURCE_LIMIT = 3
    flood_settings.WEBHOOK_REJECTION_FLUSH_SECONDS = 3600
    for i in range(3):
        assert deliver(*_forged(i), REMOTE_ADDR="203.0.113.7").status_code == 401
    assert WebhookRejection.objects.count() == 3

    with CaptureQueriesContext(connection) as queries:
        for i in range(3, 10):
            assert deliver(*_forged(i), REMOTE_ADDR="203.0.113.7").status_code == 401
    assert [q["sql"] for q in queries if "webhookrejection" in q["sql"].lower()] == []
    assert WebhookRejection.objects.count() == 3
    events = [line["event"] for line in log_lines(json_log)]
    assert events.count("webhook.rejections_limited") == 1
    assert events.count("webhook.rejected") == 3

    # Another source is examined as usual, and its sample writes the pending counts.
    assert deliver(*_forged(10), REMOTE_ADDR="198.51.100.1").status_code == 401
    counter = _counter()
    assert (counter.rejected, counter.limited, counter.sampled) == (11, 7, 4)


def test_ipv6_sources_are_limited_per_64(handlers, deliver, flood_settings):
    flood_settings.WEBHOOK_REJECTION_SOURCE_LIMIT = 2
    for i in range(6):
        deliver(*_forged(i), REMOTE_ADDR=f"2001:db8:1:2::{i + 1:x}")
    deliver(*_forged(9), REMOTE_ADDR="2001:db8:1:3::1")
    assert WebhookRejection.objects.count() == 3
    assert _counter().limited == 4


def test_a_valid_delivery_from_a_limited_source_is_stored(handlers, deliver, flood_settings):
    flood_settings.WEBHOOK_REJECTION_SOURCE_LIMIT = 1
    for i in range(5):
        deliver(*_forged(i), REMOTE_ADDR="203.0.113.7")
    response = deliver(*signed("test.unhandled", {"id": "ok"}), REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_sources_behind_the_trusted_proxy_are_told_apart(handlers, deliver, flood_settings):
    flood_settings.TRUSTED_PROXY_COUNT = 1
    flood_settings.WEBHOOK_REJECTION_SAMPLES_PER_SOURCE = 1
    for i in range(4):
        deliver(
            *_forged(i),
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"6.6.6.6, 192.0.2.{i % 2 + 1}",
        )
    kept = sorted(str(a) for a in WebhookRejection.objects.values_list("remote_addr", flat=True))
    assert kept == ["192.0.2.1", "192.0.2.2"]


def test_counts_are_written_at_most_every_flush_interval(handlers, deliver, flood_settings):
    flood_settings.WEBHOOK_REJECTION_SAMPLES_PER_HOUR = 1
    flood_settings.WEBHOOK_REJECTION_FLUSH_SECONDS = 3600
    for i in range(5):
        deliver(*_forged(i), REMOTE_ADDR=f"10.0.0.{i}")
    assert _counter().rejected == 1  # written with the one sample; 4 wait in memory
    flood_settings.WEBHOOK_REJECTION_FLUSH_SECONDS = 0
    deliver(*_forged(5), REMOTE_ADDR="10.0.0.9")
    assert _counter().rejected == 6


def test_a_database_error_while_counting_is_not_a_500_and_the_counts_wait(
    handlers, deliver, flood_settings, monkeypatch
):
    flood_settings.WEBHOOK_REJECTION_SAMPLES_PER_HOUR = 0  # nothing kept: counting only
    real_add = inbox._rejection_counter_add

    def busy(**kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(inbox, "_rejection_counter_add", busy)
    assert deliver(*_forged(1)).status_code == 401
    assert not WebhookRejectionCounter.objects.exists()
    monkeypatch.setattr(inbox, "_rejection_counter_add", real_add)
    assert deliver(*_forged(2)).status_code == 401
    assert _counter().rejected == 2


def test_old_counters_are_pruned_with_the_samples(handlers, deliver, flood_settings):
    deliver(*_forged(1))
    old = timezone.now() - timedelta(days=flood_settings.WEBHOOK_REJECTION_RETENTION_DAYS + 1)
    WebhookRejectionCounter.objects.create(provider=PROVIDER, hour=old, rejected=9)
    result = webhooks_prune()
    assert result.rejection_counters == 1
    assert list(WebhookRejectionCounter.objects.values_list("rejected", flat=True)) == [1]


def test_the_rejection_list_says_how_many_were_refused(
    handlers, deliver, flood_settings, client, admin_user
):
    flood_settings.WEBHOOK_REJECTION_SAMPLES_PER_HOUR = 2
    for i in range(7):
        deliver(*_forged(i), REMOTE_ADDR=f"10.0.0.{i}")
    client.force_login(admin_user)
    page = client.get(reverse("admin:integrations_webhookrejection_changelist"))
    assert page.status_code == 200
    assert f"{PROVIDER} 7 (kept 2, 0 past a source&#x27;s limit)" in page.content.decode()
