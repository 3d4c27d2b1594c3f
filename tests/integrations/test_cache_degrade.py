"""The Redis cache degrades to an empty cache while Redis is down (integrations/cache.py).

"Down" is a loopback port where nothing listens (refused connections) or a socket that accepts
and never answers (timeouts); those tests run everywhere. The live-Redis tests run only when
``REDIS_URL`` points at a real server (``.ci/run``'s scaled-profile pass).
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import caches
from django.test import TestCase
from rest_framework.test import APIClient

import integrations.cache
from accounts.access.api_keys import api_key_create
from integrations.cache import DegradingRedisCache
from orders.models import Order
from tests.orders.test_api import ORDER

REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set (embedded profile)")

BACKEND = "integrations.cache.DegradingRedisCache"
PASSWORD = "hunter2-not-in-logs"
ORDERS = "/api/v1/orders/"


@pytest.fixture(autouse=True)
def _fresh_warning_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(integrations.cache, "_warned_at", {})
    monkeypatch.setattr(integrations.cache, "_unreported", {})


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: reads time out."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _dead(port: int, **options: Any) -> dict[str, Any]:
    return {
        "BACKEND": BACKEND,
        "LOCATION": f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
        "KEY_PREFIX": "switchboard-test",
        "OPTIONS": options,
    }


def _warnings(stream: Any) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == "cache.unavailable"]


def _api_client(scopes: tuple[str, ...] = ("orders:write", "orders:read")) -> APIClient:
    _, raw = api_key_create(name="storefront", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


# --- Redis down (every profile) ---------------------------------------------------------------


def test_a_refused_redis_reads_as_empty_and_drops_writes(settings, closed_port):
    settings.CACHES = {**settings.CACHES, "dead": _dead(closed_port)}
    cache = caches["dead"]
    assert isinstance(cache, DegradingRedisCache)
    started = time.monotonic()

    assert cache.get("k") is None
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    cache.set("k", 1)
    assert cache.get("k") is None  # nothing was kept
    assert cache.add("k", 1) is False
    assert cache.has_key("k") is False
    assert cache.touch("k") is False
    assert cache.delete("k") is False
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    cache.delete_many(["a", "b"])
    cache.clear()
    assert cache.get_or_set("k", lambda: "computed") == "computed"
    with pytest.raises(ValueError, match="not found"):
        cache.incr("k")
    with pytest.raises(ValueError, match="not found"):
        cache.decr("k")

    assert time.monotonic() - started < 2


def test_a_silent_redis_times_out_after_half_a_second_by_default(settings, silent_port, json_log):
    settings.CACHES = {**settings.CACHES, "hung": _dead(silent_port)}  # no timeouts given
    cache = caches["hung"]

    started = time.monotonic()
    assert cache.get("k", "fallback") == "fallback"
    elapsed = time.monotonic() - started

    assert 0.4 < elapsed < 2  # redis-py's own default would wait 5 s
    [warning] = _warnings(json_log)
    assert warning["error"] == "TimeoutError"


def test_the_timeouts_come_from_the_options(settings, silent_port):
    settings.CACHES = {
        **settings.CACHES,
        "hung": _dead(silent_port, socket_connect_timeout=0.1, socket_timeout=0.1),
    }
    started = time.monotonic()
    caches["hung"].set("k", 1)
    assert time.monotonic() - started < 0.4


def test_unavailability_is_warned_once_per_interval_without_the_password(
    settings, closed_port, json_log
):
    settings.CACHES = {
        **settings.CACHES,
        "dead": _dead(closed_port, UNAVAILABLE_WARNING_SECONDS=0.3),
    }
    cache = caches["dead"]

    for _ in range(3):
        cache.get("k")
    cache.set("k", 1)
    first = _warnings(json_log)
    time.sleep(0.35)
    cache.add("k", 1)

    assert len(first) == 1
    assert first[0]["level"] == "warning"
    assert first[0]["error"] == "ConnectionError"
    assert first[0]["operation"] == "get"
    assert first[0]["servers"] == f"redis://127.0.0.1:{closed_port}/0"
    assert first[0]["unreported_failures"] == 0
    second = _warnings(json_log)[1:]
    assert len(second) == 1
    assert second[0]["operation"] == "add"
    assert second[0]["unreported_failures"] == 3  # two gets and the set since the first warning
    assert PASSWORD not in json_log.getvalue()


def test_one_warning_per_process_whatever_the_thread(settings, closed_port, json_log):
    settings.CACHES = {**settings.CACHES, "dead": _dead(closed_port)}
    instances: list[object] = []

    def work() -> None:
        cache = caches["dead"]  # one instance per thread
        instances.append(cache)
        for _ in range(5):
            cache.get("k")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(cache) for cache in instances}) == 4
    assert len(_warnings(json_log)) == 1


@pytest.mark.django_db
def test_the_throttled_api_answers_while_redis_is_down(settings, closed_port, json_log):
    settings.CACHES = {"default": _dead(closed_port)}
    settings.API_KEY_RATE = "1/min"  # a working cache would answer the second call 429
    client = _api_client()

    created = client.post(ORDERS, ORDER, format="json")
    listings = [client.get(ORDERS) for _ in range(3)]

    assert created.status_code == 201, created.content
    assert Order.objects.filter(number=created.json()["number"]).exists()
    assert [listing.status_code for listing in listings] == [200, 200, 200]
    assert len(_warnings(json_log)) == 1
    assert PASSWORD not in json_log.getvalue()


def test_the_scaled_profile_uses_the_degrading_cache_with_the_env_timeout(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:secret@cache.example.test:6380/2")
    monkeypatch.setenv("REDIS_CACHE_TIMEOUT_SECONDS", "0.25")
    base = Path(django_settings.BASE_DIR) / "config" / "settings" / "base.py"

    namespace = runpy.run_path(str(base))

    assert namespace["CACHES"]["default"] == {
        "BACKEND": BACKEND,
        "LOCATION": "redis://:secret@cache.example.test:6380/2",
        "KEY_PREFIX": "switchboard",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }


# --- live Redis (scaled profile only) ---------------------------------------------------------


@pytest.fixture
def live_prefix() -> Iterator[str]:
    prefix = f"switchboard-test-{uuid.uuid4().hex}"
    yield prefix
    server = redis.Redis.from_url(REDIS_URL)
    try:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)
    finally:
        server.close()


def _live(prefix: str) -> dict[str, Any]:
    return {"BACKEND": BACKEND, "LOCATION": REDIS_URL, "KEY_PREFIX": prefix}


@needs_redis
def test_against_a_live_redis_the_cache_keeps_values(settings, live_prefix, json_log):
    settings.CACHES = {**settings.CACHES, "live": _live(live_prefix)}
    cache = caches["live"]

    cache.set("order", {"number": "SB-1"}, timeout=60)
    assert cache.get("order") == {"number": "SB-1"}
    assert cache.add("order", "other") is False
    assert cache.add("count", 1, timeout=60) is True
    assert cache.incr("count", 2) == 3
    assert cache.get_many(["order", "count", "missing"]) == {
        "order": {"number": "SB-1"},
        "count": 3,
    }
    server = redis.Redis.from_url(REDIS_URL)
    try:
        assert server.exists(cache.make_and_validate_key("order")) == 1
    finally:
        server.close()
    assert cache.delete("order") is True
    assert cache.get("order", "gone") == "gone"
    with pytest.raises(redis.exceptions.ResponseError):  # only unavailability is swallowed
        cache.set("text", "not a number", timeout=60)
        cache.incr("text")
    assert _warnings(json_log) == []


@needs_redis
@pytest.mark.django_db
def test_against_a_live_redis_throttling_throttles(settings, live_prefix):
    settings.CACHES = {"default": _live(live_prefix)}
    settings.API_KEY_RATE = "3/min"
    client = _api_client(("orders:read",))

    codes = [client.get(ORDERS).status_code for _ in range(5)]

    assert codes == [200, 200, 200, 429, 429]


@pytest.mark.django_db
def test_with_redis_down_an_order_is_taken_and_its_work_waits_in_rows(
    settings, closed_port, broken_broker, json_log
):
    """Redis down means both the cache and the task broker: the order is still created (201),
    its deliveries wait as rows, and the sweeper hands them over once the broker is back."""
    from integrations.deliveries.tasks import sweep
    from integrations.models import Delivery
    from payments.models import Payment

    settings.CACHES = {"default": _dead(closed_port)}
    settings.DELIVERY_SWEEP_PENDING_AFTER_SECONDS = 0
    client = _api_client()

    with TestCase.captureOnCommitCallbacks(execute=True):
        created = client.post(ORDERS, ORDER, format="json")

    assert created.status_code == 201, created.content
    order = Order.objects.get(number=created.json()["number"])
    waiting = Delivery.objects.filter(event__subject_id=str(order.pk), status="pending")
    assert waiting.filter(subscriber="payments.start_payment").exists()
    assert not Payment.objects.filter(order=order).exists()
    assert "delivery.enqueue_failed" in json_log.getvalue()

    broken_broker.undo()  # Redis is back (the test cluster runs tasks in place)
    sweep()
    assert Payment.objects.filter(order=order).exists()
