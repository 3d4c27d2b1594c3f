"""The admin's ops page: the figures /metrics serves (integrations/metrics.py), as server-drawn
SVG charts (integrations/charts.py) each beside a table of its numbers. Reached from the circuit
breakers' list; needs ``integrations.view_ops_page`` (the ops role, and admins)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from integrations.charts import bar_chart, line_chart
from integrations.metrics import (
    BREAKER_STATES,
    CALL_BUCKETS_MS,
    REQUEST_LATENCY,
    OpsFigures,
    ops_figures,
)

OPS_PAGE_PERMISSION = "integrations.view_ops_page"
REQUEST_VIEWS_SHOWN = 15


@dataclass(frozen=True)
class Panel:
    """One figure: its chart and the rows of the table beside it."""

    key: str
    title: str
    chart: SafeString
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class RequestLatency:
    view: str
    requests: int
    mean_ms: float


def request_latencies() -> list[RequestLatency]:
    """Requests and mean latency by view from the request histogram: this process's, or every
    worker's with PROMETHEUS_MULTIPROC_DIR (as /metrics reads it). The busiest views first."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry)
        metrics = list(registry.collect())
    else:
        metrics = list(REQUEST_LATENCY.collect())
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    for metric in metrics:
        if metric.name != "switchboard_http_request_duration_seconds":
            continue
        for sample in metric.samples:
            view = sample.labels.get("view", "")
            if sample.name.endswith("_count"):
                counts[view] = counts.get(view, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                sums[view] = sums.get(view, 0.0) + sample.value
    found = [
        RequestLatency(view=view, requests=int(count), mean_ms=sums.get(view, 0.0) / count * 1000)
        for view, count in counts.items()
        if count
    ]
    found.sort(key=lambda item: (-item.requests, item.view))
    return found[:REQUEST_VIEWS_SHOWN]


def ops_panels(figures: OpsFigures, latencies: list[RequestLatency]) -> list[Panel]:
    """Every panel of the page, in the order shown."""
    inbox = figures.inbox_backlog_by_provider()
    lag = dict(sorted(figures.inbox_lag_seconds.items()))
    backlog = figures.delivery_backlog()
    failures = figures.delivery_failures()
    breaker_counts = dict.fromkeys(BREAKER_STATES, 0)
    for state in figures.breakers.values():
        breaker_counts[state] = breaker_counts.get(state, 0) + 1
    call_names = [f"{c.provider}.{c.operation}" for c in figures.calls]
    all_calls = sum(c.calls for c in figures.calls)
    distribution = [
        (f"≤ {bound} ms", sum(c.buckets[index] for c in figures.calls))
        for index, bound in enumerate(CALL_BUCKETS_MS)
    ]
    window = f"last {figures.call_window_seconds} s"
    return [
        Panel(
            "inbox-backlog",
            "Webhook inbox backlog by provider",
            bar_chart(list(inbox.items()), title="Webhook inbox backlog by provider"),
            ("Provider", "Status", "Rows"),
            [(p, s, n) for (p, s), n in sorted(figures.inbox_backlog.items())],
        ),
        Panel(
            "inbox-lag",
            "Webhook inbox lag (oldest unprocessed row)",
            bar_chart(
                [(p, round(s, 1)) for p, s in lag.items()],
                title="Webhook inbox lag by provider",
                unit="s",
            ),
            ("Provider", "Seconds"),
            [(p, round(s, 1)) for p, s in lag.items()],
        ),
        Panel(
            "delivery-backlog",
            "Delivery backlog by subscriber",
            bar_chart(list(backlog.items()), title="Delivery backlog by subscriber"),
            ("Subscriber", "Pending, running or to retry"),
            list(backlog.items()),
        ),
        Panel(
            "delivery-failures",
            "Delivery failures by subscriber",
            bar_chart(list(failures.items()), title="Delivery failures by subscriber"),
            ("Subscriber", "Failed or dead"),
            list(failures.items()),
        ),
        Panel(
            "breakers",
            "Circuit breakers",
            bar_chart(list(breaker_counts.items()), title="Circuit breakers by state"),
            ("Provider", "State"),
            list(figures.breakers.items()),
        ),
        Panel(
            "call-latency",
            f"Provider call latency ({window})",
            bar_chart(
                [
                    (name, round(c.mean_ms, 1))
                    for name, c in zip(call_names, figures.calls, strict=True)
                ],
                title=f"Mean provider call latency, {window}",
                unit="ms",
            ),
            ("Provider", "Operation", "Calls", "Errors", "Mean ms", "Max ms"),
            [
                (c.provider, c.operation, c.calls, c.errors, round(c.mean_ms, 1), c.duration_ms_max)
                for c in figures.calls
            ],
        ),
        Panel(
            "call-errors",
            f"Provider call errors ({window})",
            bar_chart(
                [(name, c.errors) for name, c in zip(call_names, figures.calls, strict=True)],
                title=f"Provider call errors, {window}",
            ),
            ("Provider.operation", "Errors"),
            [(name, c.errors) for name, c in zip(call_names, figures.calls, strict=True)],
        ),
        Panel(
            "call-distribution",
            f"Provider calls at or under each latency ({window})",
            line_chart(distribution, title=f"Provider calls at or under each latency, {window}"),
            ("Latency", "Calls"),
            [*distribution, ("all", all_calls)],
        ),
        Panel(
            "task-queue",
            "Task queue depth",
            bar_chart(list(figures.task_queue.items()), title="Tasks waiting by queue"),
            ("Queue", "Tasks waiting"),
            list(figures.task_queue.items()),
        ),
        Panel(
            "request-latency",
            "Request latency by view",
            bar_chart(
                [(item.view, round(item.mean_ms, 1)) for item in latencies],
                title="Mean request latency by view",
                unit="ms",
            ),
            ("View", "Requests", "Mean ms"),
            [(item.view, item.requests, round(item.mean_ms, 1)) for item in latencies],
        ),
    ]


def ops_page_view(request: HttpRequest, admin_context: dict[str, Any]) -> HttpResponse:
    """GET only (nothing on the page changes anything). 403 without the ops page permission."""
    if not request.user.has_perm(OPS_PAGE_PERMISSION):
        raise PermissionDenied
    figures = ops_figures()
    context = {
        **admin_context,
        "title": "Operations",
        "figures": figures,
        "panels": ops_panels(figures, request_latencies()),
        "multiprocess": bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")),
    }
    return TemplateResponse(request, "admin/integrations/ops.html", context)
