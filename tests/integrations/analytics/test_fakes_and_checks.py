"""The fakes refuse what Segment and PostHog refuse (driven through the official SDKs), and the
system checks refuse a sink without a hash key."""

from __future__ import annotations

import pytest
from django.core import checks
from posthog import Posthog
from posthog.request import APIError as PostHogAPIError
from segment.analytics.client import Client as SegmentClient  # type: ignore[import-untyped]
from segment.analytics.request import APIError as SegmentAPIError  # type: ignore[import-untyped]
from segment.analytics.request import post as segment_post

from integrations.analytics.checks import check_analytics_settings
from tests.support.fake_posthog import serve_fake_posthog
from tests.support.fake_segment import serve_fake_segment


def test_fake_segment_takes_the_sdks_gzip_batch_and_refuses_a_wrong_write_key():
    with serve_fake_segment() as fake:
        client = SegmentClient(fake.write_key, host=fake.url, sync_mode=True, gzip=True)
        client.track(user_id="7", event="order.paid", message_id="m-1")
        assert [m["messageId"] for m in fake.messages] == ["m-1"]
        assert fake.requests[0]["headers"]["content-encoding"] == "gzip"

        wrong = SegmentClient("another-key", host=fake.url, sync_mode=True)
        with pytest.raises(SegmentAPIError) as refused:
            wrong.track(user_id="7", event="order.paid")
        assert refused.value.status == 401
        assert len(fake.messages) == 1


def test_fake_segment_refuses_a_body_over_500_kb_and_a_message_over_32_kb():
    with serve_fake_segment() as fake:
        big = {"type": "track", "userId": "7", "event": "x", "messageId": "m"}
        with pytest.raises(SegmentAPIError) as too_big:
            segment_post(fake.write_key, fake.url, batch=[{**big, "p": "x" * 33_000}])
        assert too_big.value.status == 400
        batch = [{**big, "messageId": f"m{i}", "p": "x" * 30_000} for i in range(20)]
        with pytest.raises(SegmentAPIError) as too_long:
            segment_post(fake.write_key, fake.url, batch=batch)
        assert too_long.value.status == 400
        assert fake.messages == []


def test_fake_segment_drops_a_message_without_a_user_as_segment_does():
    with serve_fake_segment() as fake:
        segment_post(
            fake.write_key, fake.url, batch=[{"type": "track", "event": "x", "messageId": "m"}]
        )
        assert fake.messages == []
        assert len(fake.dropped) == 1


def test_fake_posthog_takes_gzip_and_refuses_a_wrong_key_and_an_event_without_distinct_id():
    with serve_fake_posthog() as fake:
        client = Posthog(fake.api_key, host=fake.url, sync_mode=True, gzip=True, debug=True)
        client.capture("order.paid", distinct_id="7", uuid="0b89a621-7a02-5529-a864-17a4d5ae43d9")
        assert [e["uuid"] for e in fake.events] == ["0b89a621-7a02-5529-a864-17a4d5ae43d9"]
        assert fake.requests[0]["headers"]["content-encoding"] == "gzip"

        wrong = Posthog("phc_wrong", host=fake.url, sync_mode=True, debug=True)
        with pytest.raises(PostHogAPIError) as refused:
            wrong.capture("order.paid", distinct_id="7")
        assert refused.value.status == 401

        status, answer = fake.answer(
            "/batch/", {}, b'{"api_key": "%s", "batch": [{"event": "x"}]}' % fake.api_key.encode()
        )
        assert status == 400
        assert "distinct_id" in answer["detail"]
        assert len(fake.events) == 1


def test_a_sink_without_a_hash_key_refuses_to_start(settings):
    settings.ANALYTICS_WAREHOUSE_DIR = "var/warehouse"
    settings.ANALYTICS_PII_HASH_KEY = ""

    (error,) = check_analytics_settings()
    assert error.id == "analytics.E001"
    assert "warehouse" in error.msg

    settings.ANALYTICS_PII_HASH_KEY = "k" * 32
    assert check_analytics_settings() == []


def test_pii_rules_with_an_unknown_action_refuse_to_start(settings):
    settings.ANALYTICS_PII_RULES = {"order.*": {"number": "encrypt"}}

    assert [e.id for e in check_analytics_settings()] == ["analytics.E002"]
    assert "analytics" in checks.registry.registry.tags_available()


def test_gunicorn_refuses_to_start_with_a_sink_and_no_hash_key(settings):
    from django.core.exceptions import ImproperlyConfigured

    from integrations.checks import refuse_to_start_on_provider_errors

    settings.ANALYTICS_SEGMENT_WRITE_KEY = "a-write-key"
    settings.ANALYTICS_PII_HASH_KEY = ""
    with pytest.raises(ImproperlyConfigured, match=r"analytics\.E001"):
        refuse_to_start_on_provider_errors()
    assert "a-write-key" not in str(check_analytics_settings()[0].msg)
