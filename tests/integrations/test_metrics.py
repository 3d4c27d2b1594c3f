"""/metrics: the token and network rules, every metric family against seeded rows, the
collectors' bounded query count, and the request-latency histogram (integrations/metrics.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ
from prometheus_client.parser import text_string_to_metric_families

from integrations.metrics import ops_figures
from integrations.models import CircuitBreaker, Delivery, WebhookEvent
from tests.support.ops_figures import seed_ops_figures

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token-0123456789abcdef"
URL = "/metrics"


@pytest.fixture(autouse=True)
def _token(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_PROVIDER_CALL_WINDOW_SECONDS = 300


def _scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# Token and network ----------------------------------------------------------------------


def test_no_token_configured_means_the_endpoint_does_not_exist(
    client: Client, settings: Any
) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get(URL).status_code == 404
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_without_the_right_bearer_token_the_answer_is_401(
    client: Client, header: str | None
) -> None:
    extra: dict[str, Any] = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = client.get(URL, **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"switchboard_" not in response.content


def test_the_right_token_gets_the_metrics(client: Client) -> None:
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"# TYPE switchboard_webhook_inbox_backlog gauge" in response.content


def test_only_get(client: Client) -> None:
    assert client.post(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_from_outside_the_allowed_networks_the_answer_is_403(client: Client, settings: Any) -> None:
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.get(URL, REMOTE_ADDR="192.0.2.7", **auth).status_code == 403
    assert client.get(URL, REMOTE_ADDR="10.1.2.3", **auth).status_code == 200
    # Inside the network the token is still required.
    assert client.get(URL, REMOTE_ADDR="10.1.2.3").status_code == 401


# Every family against seeded rows -------------------------------------------------------


def test_every_family_matches_the_seeded_rows(client: Client) -> None:
    seed_ops_figures()
    samples = _scrape(client)

    backlog = "switchboard_webhook_inbox_backlog"
    assert _value(samples, backlog, provider="stripe", status="received") == 3
    assert _value(samples, backlog, provider="stripe", status="failed") == 2
    assert _value(samples, backlog, provider="asaas", status="dead") == 1
    assert (backlog, (("provider", "stripe"), ("status", "processed"))) not in samples

    lag = "switchboard_webhook_inbox_lag_seconds"
    assert 599 <= _value(samples, lag, provider="stripe") <= 630
    assert 59 <= _value(samples, lag, provider="asaas") <= 90

    assert _value(samples, "switchboard_delivery_backlog", subscriber="erp.sync") == 6
    failures = "switchboard_delivery_failures"
    assert _value(samples, failures, subscriber="erp.sync", status="failed") == 2
    assert _value(samples, failures, subscriber="crm.push", status="dead") == 3
    assert ("switchboard_delivery_backlog", (("subscriber", "crm.push"),)) not in samples

    state = "switchboard_circuit_breaker_state"
    assert _value(samples, state, provider="zapi", state="open") == 1
    assert _value(samples, state, provider="zapi", state="closed") == 0
    assert _value(samples, state, provider="stripe", state="closed") == 1

    call = {"provider": "stripe", "operation": "create_payment", "window_seconds": "300"}
    assert _value(samples, "switchboard_provider_calls", **call) == 5
    assert _value(samples, "switchboard_provider_call_errors", **call) == 1
    # 2 x 80 ms + 2 x 300 ms + 6000 ms
    assert _value(samples, "switchboard_provider_call_duration_seconds_sum", **call) == 6.76
    assert _value(samples, "switchboard_provider_call_duration_seconds_max", **call) == 6.0
    bucket = "switchboard_provider_call_duration_seconds_bucket"
    assert _value(samples, bucket, le="0.1", **call) == 2
    assert _value(samples, bucket, le="0.5", **call) == 4
    assert _value(samples, bucket, le="5", **call) == 4
    assert _value(samples, bucket, le="+Inf", **call) == 5

    queue = "switchboard_task_queue_depth"
    assert _value(samples, queue, queue="switchboard") == 7
    assert _value(samples, queue, queue="switchboard-sweepers") == 1


def test_request_latencies_are_observed_by_view_method_and_status(client: Client) -> None:
    before = _scrape(client)
    count = "switchboard_http_request_duration_seconds_count"
    key = {"view": "health", "method": "GET", "status": "200"}
    start = before.get((count, tuple(sorted(key.items()))), 0.0)
    assert client.get("/health/").status_code == 200
    assert client.get("/health/").status_code == 200
    client.get("/no/such/page/")

    after = _scrape(client)
    assert _value(after, count, **key) == start + 2
    # Unresolved paths share one label: a scanner cannot mint label values.
    assert _value(after, count, view="<unresolved>", method="GET", status="404") >= 1
    assert not any("no/such" in str(labels) for _name, labels in after)


# Cost -----------------------------------------------------------------------------------


def test_the_collectors_query_count_does_not_grow_with_rows_or_providers() -> None:
    seed_ops_figures(scale=1, providers=2)
    with CaptureQueriesContext(connection) as small:
        ops_figures()
    for model in (WebhookEvent, Delivery, CircuitBreaker, OrmQ):
        model.objects.all().delete()
    # The same shape with 40 times the rows and 12 providers: the same queries.
    seed_ops_figures(scale=40, providers=12)
    with CaptureQueriesContext(connection) as large:
        figures = ops_figures()
    assert len(figures.inbox_backlog_by_provider()) == 12
    assert len(small.captured_queries) == len(large.captured_queries)
    # inbox, arrivals, deliveries, breakers, ledger window, one broker count per cluster queue
    assert len(large.captured_queries) <= 7


def test_the_ledger_is_read_over_its_window_only(settings: Any) -> None:
    seed_ops_figures()
    settings.METRICS_PROVIDER_CALL_WINDOW_SECONDS = 7200
    wide = ops_figures()
    settings.METRICS_PROVIDER_CALL_WINDOW_SECONDS = 300
    narrow = ops_figures()
    assert [c.calls for c in wide.calls] == [6]
    assert [c.calls for c in narrow.calls] == [5]
