"""Operational figures: read from the database by ``ops_figures`` and served two ways, as the
Prometheus text format on /metrics (``metrics_view``) and as the admin's ops page
(integrations/ops_admin.py). See docs/metrics.md.

Everything but the request latencies is read from rows at scrape time, so any web process
answers for the whole system (workers, clusters and all) without prometheus_client's
multi-process mode: the inbox, deliveries, breakers and the call ledger are already shared
through the database. Each family is one aggregate query over an index (seven queries in all,
eight with the ORM broker's second queue); the call ledger is read over a bounded window.

Request latencies are the exception: they live in the process that served the request. Without
``PROMETHEUS_MULTIPROC_DIR`` each gunicorn worker keeps its own histogram and a scrape sees the
worker that answered it; with it, prometheus_client writes them to files there and the endpoint
sums every worker's (docs/metrics.md, "Request latencies").
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Min, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from integrations.models import CircuitBreaker, Delivery, ProviderCall, WebhookEvent
from integrations.webhooks.inbox import waiting_arrivals

# Inbox rows still owed work (a dead row is owed a person's look: counted too).
INBOX_BACKLOG_STATUSES = (
    WebhookEvent.Status.RECEIVED,
    WebhookEvent.Status.PROCESSING,
    WebhookEvent.Status.FAILED,
    WebhookEvent.Status.DEAD,
)
INBOX_UNPROCESSED_STATUSES = (
    WebhookEvent.Status.RECEIVED,
    WebhookEvent.Status.PROCESSING,
    WebhookEvent.Status.FAILED,
)
ARRIVED = "arrived"
"""The backlog status of deliveries stored as arrivals, not yet moved into the inbox."""
DELIVERY_BACKLOG_STATUSES = (
    Delivery.Status.PENDING,
    Delivery.Status.RUNNING,
    Delivery.Status.FAILED,
)
DELIVERY_FAILURE_STATUSES = (Delivery.Status.FAILED, Delivery.Status.DEAD)
BREAKER_STATES = tuple(CircuitBreaker.State.values)
BREAKER_STATE_VALUES = {
    CircuitBreaker.State.CLOSED: 0,
    CircuitBreaker.State.HALF_OPEN: 1,
    CircuitBreaker.State.OPEN: 2,
}
# Upper bounds (milliseconds) of the provider-call latency buckets read from the ledger.
CALL_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000)
CALL_ERROR_OUTCOMES = tuple(
    outcome for outcome in ProviderCall.Outcome.values if outcome != ProviderCall.Outcome.SUCCESS
)
# Seconds; the request histogram's buckets.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNRESOLVED_VIEW = "<unresolved>"

REQUEST_LATENCY = Histogram(
    "switchboard_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by view, method and status.",
    ["view", "method", "status"],
    buckets=REQUEST_BUCKETS,
)


@dataclass(frozen=True)
class CallFigures:
    """One (provider, operation) pair over the ledger window."""

    provider: str
    operation: str
    calls: int
    errors: int
    duration_ms_sum: int
    duration_ms_max: int
    # Cumulative counts of calls at or under each CALL_BUCKETS_MS bound, in that order.
    buckets: tuple[int, ...]

    @property
    def mean_ms(self) -> float:
        return self.duration_ms_sum / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class OpsFigures:
    """What operations watch, read at one moment (``at``)."""

    at: datetime
    # (provider, status) -> rows, for INBOX_BACKLOG_STATUSES and ARRIVED.
    inbox_backlog: dict[tuple[str, str], int] = field(default_factory=dict)
    # provider -> seconds since the oldest unprocessed row was received.
    inbox_lag_seconds: dict[str, float] = field(default_factory=dict)
    # (subscriber, status) -> rows, for DELIVERY_BACKLOG_STATUSES and DELIVERY_FAILURE_STATUSES.
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    # provider -> breaker state.
    breakers: dict[str, str] = field(default_factory=dict)
    calls: list[CallFigures] = field(default_factory=list)
    call_window_seconds: int = 0
    # queue name -> tasks waiting in the broker.
    task_queue: dict[str, int] = field(default_factory=dict)

    def delivery_backlog(self) -> dict[str, int]:
        return self._deliveries_in(DELIVERY_BACKLOG_STATUSES)

    def delivery_failures(self) -> dict[str, int]:
        return self._deliveries_in(DELIVERY_FAILURE_STATUSES)

    def _deliveries_in(self, statuses: tuple[str, ...]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (subscriber, status), count in self.deliveries.items():
            if status in statuses:
                totals[subscriber] = totals.get(subscriber, 0) + count
        return dict(sorted(totals.items()))

    def inbox_backlog_by_provider(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (provider, _status), count in self.inbox_backlog.items():
            totals[provider] = totals.get(provider, 0) + count
        return dict(sorted(totals.items()))


def ops_figures(*, now: datetime | None = None) -> OpsFigures:
    """Read every figure. Seven aggregate queries (plus one per extra ORM-broker queue), whatever
    the number of rows: the inbox and delivery reads stay on their status indexes, the ledger is
    read over the last ``METRICS_PROVIDER_CALL_WINDOW_SECONDS``. Never writes."""
    now = now or timezone.now()
    window = int(settings.METRICS_PROVIDER_CALL_WINDOW_SECONDS)
    figures = OpsFigures(at=now, call_window_seconds=window)

    for row in (
        WebhookEvent.objects.filter(status__in=INBOX_BACKLOG_STATUSES)
        .order_by()
        .values("provider", "status")
        .annotate(rows=Count("id"), oldest=Min("received_at"))
    ):
        figures.inbox_backlog[(row["provider"], row["status"])] = row["rows"]
        if row["status"] in INBOX_UNPROCESSED_STATUSES:
            lag = max(0.0, (now - row["oldest"]).total_seconds())
            figures.inbox_lag_seconds[row["provider"]] = max(
                lag, figures.inbox_lag_seconds.get(row["provider"], 0.0)
            )

    # Deliveries the embedded profile's receiver stored as arrivals and the drain has not moved
    # into the inbox yet: owed work too, under their own status.
    for row in (
        waiting_arrivals()
        .order_by()
        .values("provider")
        .annotate(rows=Count("id"), oldest=Min("received_at"))
    ):
        figures.inbox_backlog[(row["provider"], ARRIVED)] = row["rows"]
        lag = max(0.0, (now - row["oldest"]).total_seconds())
        figures.inbox_lag_seconds[row["provider"]] = max(
            lag, figures.inbox_lag_seconds.get(row["provider"], 0.0)
        )

    for row in (
        Delivery.objects.filter(status__in=DELIVERY_BACKLOG_STATUSES + DELIVERY_FAILURE_STATUSES)
        .order_by()
        .values("subscriber", "status")
        .annotate(rows=Count("id"))
    ):
        figures.deliveries[(row["subscriber"], row["status"])] = row["rows"]

    for provider, state in CircuitBreaker.objects.order_by("provider").values_list(
        "provider", "state"
    ):
        figures.breakers[provider] = state

    bucket_counts = {
        f"le_{bound}": Count("id", filter=Q(duration_ms__lte=bound)) for bound in CALL_BUCKETS_MS
    }
    for row in (
        ProviderCall.objects.filter(created_at__gte=now - timedelta(seconds=window))
        .order_by()
        .values("provider", "operation")
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=Q(outcome__in=CALL_ERROR_OUTCOMES)),
            duration_sum=Sum("duration_ms"),
            duration_max=Max("duration_ms"),
            **bucket_counts,
        )
        .order_by("provider", "operation")
    ):
        figures.calls.append(
            CallFigures(
                provider=row["provider"],
                operation=row["operation"],
                calls=row["calls"],
                errors=row["errors"],
                duration_ms_sum=row["duration_sum"] or 0,
                duration_ms_max=row["duration_max"] or 0,
                buckets=tuple(row[f"le_{bound}"] for bound in CALL_BUCKETS_MS),
            )
        )

    figures.task_queue.update(task_queue_depths())
    return figures


def task_queue_depths() -> dict[str, int]:
    """Tasks waiting in the broker, per cluster queue: the ORM broker's OrmQ rows not taken by
    a worker (one COUNT each) or the Redis list's length (one LLEN each)."""
    from django_q.brokers import get_broker

    names = [settings.Q_CLUSTER["name"], *settings.Q_CLUSTER.get("ALT_CLUSTERS", {})]
    return {name: int(get_broker(list_key=name).queue_size() or 0) for name in names}


class DatabaseCollector(Collector):
    """prometheus_client collector that reads ``ops_figures`` on every scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = ops_figures()
        backlog = GaugeMetricFamily(
            "switchboard_webhook_inbox_backlog",
            "Inbox rows owed work (received, processing, failed) or a look (dead).",
            labels=["provider", "status"],
        )
        for (provider, status), count in sorted(figures.inbox_backlog.items()):
            backlog.add_metric([provider, status], count)
        yield backlog

        lag = GaugeMetricFamily(
            "switchboard_webhook_inbox_lag_seconds",
            "Age of the oldest unprocessed inbox row (received, processing or failed).",
            labels=["provider"],
        )
        for provider, seconds in sorted(figures.inbox_lag_seconds.items()):
            lag.add_metric([provider], seconds)
        yield lag

        deliveries = GaugeMetricFamily(
            "switchboard_delivery_backlog",
            "Deliveries not yet done (pending, running, failed and to be retried).",
            labels=["subscriber"],
        )
        for subscriber, count in figures.delivery_backlog().items():
            deliveries.add_metric([subscriber], count)
        yield deliveries

        failures = GaugeMetricFamily(
            "switchboard_delivery_failures",
            "Deliveries whose last attempt failed, by subscriber and status (failed, dead).",
            labels=["subscriber", "status"],
        )
        for (subscriber, status), count in sorted(figures.deliveries.items()):
            if status in DELIVERY_FAILURE_STATUSES:
                failures.add_metric([subscriber, status], count)
        yield failures

        breakers = GaugeMetricFamily(
            "switchboard_circuit_breaker_state",
            "1 for the state each provider's breaker is in, 0 for the others.",
            labels=["provider", "state"],
        )
        for provider, current in figures.breakers.items():
            for state in BREAKER_STATES:
                breakers.add_metric([provider, state], 1 if state == current else 0)
        yield breakers

        window = str(figures.call_window_seconds)
        calls = GaugeMetricFamily(
            "switchboard_provider_calls",
            "Provider call attempts in the ledger over the last window_seconds.",
            labels=["provider", "operation", "window_seconds"],
        )
        errors = GaugeMetricFamily(
            "switchboard_provider_call_errors",
            "Attempts that failed (HTTP error, timeout, connection error, circuit open) over "
            "the last window_seconds.",
            labels=["provider", "operation", "window_seconds"],
        )
        duration_sum = GaugeMetricFamily(
            "switchboard_provider_call_duration_seconds_sum",
            "Total duration of the window's attempts.",
            labels=["provider", "operation", "window_seconds"],
        )
        duration_max = GaugeMetricFamily(
            "switchboard_provider_call_duration_seconds_max",
            "Slowest attempt in the window.",
            labels=["provider", "operation", "window_seconds"],
        )
        buckets = GaugeMetricFamily(
            "switchboard_provider_call_duration_seconds_bucket",
            "Attempts in the window that took at most le seconds (histogram_quantile works on it).",
            labels=["provider", "operation", "window_seconds", "le"],
        )
        for call in figures.calls:
            labels = [call.provider, call.operation, window]
            calls.add_metric(labels, call.calls)
            errors.add_metric(labels, call.errors)
            duration_sum.add_metric(labels, call.duration_ms_sum / 1000)
            duration_max.add_metric(labels, call.duration_ms_max / 1000)
            for bound, count in zip(CALL_BUCKETS_MS, call.buckets, strict=True):
                buckets.add_metric([*labels, f"{bound / 1000:g}"], count)
            buckets.add_metric([*labels, "+Inf"], call.calls)
        yield from (calls, errors, duration_sum, duration_max, buckets)

        queue = GaugeMetricFamily(
            "switchboard_task_queue_depth",
            "Tasks waiting in the django-q2 broker, by cluster queue.",
            labels=["queue"],
        )
        for name, depth in sorted(figures.task_queue.items()):
            queue.add_metric([name], depth)
        yield queue


def metrics_registry() -> CollectorRegistry:
    """A registry for one scrape: the database figures and the request histogram (this
    process's, or every worker's when PROMETHEUS_MULTIPROC_DIR is set)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_RequestLatencyCollector())
    return registry


class _RequestLatencyCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REQUEST_LATENCY.collect()


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _from_allowed_network(request: HttpRequest) -> bool:
    networks: list[str] = settings.METRICS_ALLOWED_NETWORKS
    if not networks:
        return True
    from integrations.webhooks.views import client_ip

    try:
        address = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. 404 when METRICS_TOKEN is empty (off); 403 from outside
    METRICS_ALLOWED_NETWORKS; 401 without the bearer token or with a wrong one (compared in
    constant time)."""
    expected: str = settings.METRICS_TOKEN
    if not expected:
        raise Http404
    if not _from_allowed_network(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    given = _bearer_token(request)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


class RequestLatencyMiddleware:
    """Observes every request's duration in ``REQUEST_LATENCY``. The view label is the URL
    name (or the view's dotted path), never the path itself, so labels stay few."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = (match.view_name or match._func_path) if match is not None else UNRESOLVED_VIEW
        REQUEST_LATENCY.labels(
            view=view, method=_method_label(request.method), status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method_label(method: str | None) -> str:
    return method if method in _KNOWN_METHODS else "other"
