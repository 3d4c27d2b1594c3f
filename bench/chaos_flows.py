"""The extra flows ``bench.chaos`` runs beside its API orders, and what it counts of them.

- ``WebhookSender``: provider webhooks sent from outside, as the sandbox provider signs them
  (Standard Webhooks, the run's ``SANDBOX_WEBHOOK_SECRET``) to ``/webhooks/sandbox-payments/``
  at a steady rate, open loop. Most are facts the provider already sent (a ``payment.succeeded``
  or ``refund.succeeded`` body taken from the sandbox's own sent rows) redelivered under a new
  webhook id, as providers do; some repeat an id already sent (same id, same body: an
  at-least-once retry); the rest are event types the endpoint does not handle (stored, ignored).
  Every answer is kept by webhook id, so after settling each id answered 200 is looked up.
- ``Refunder``: refunds through the services, as staff would (request by one user, approval by
  another, a partial amount under the dual-approval threshold, so the order goes on to be
  delivered) for paid orders at a steady rate; the ``refund.approved`` subscriber executes them at the provider on the task cluster.
- ``outbound_endpoint``: one outbound webhook endpoint subscribed to order and refund events,
  pointed at a loopback receiver that verifies every signature and counts by ``webhook-id``.
- ``Probe``: after each restart, a no-op task enqueued behind whatever is queued; when it has run
  the restarted cluster has served the backlog ahead of it (time to recover).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.services import Check

WEBHOOK_PATH = "/webhooks/sandbox-payments/"
REDELIVERED_TYPES = ("payment.succeeded", "refund.succeeded")
OUTBOUND_TYPES = ["order.*", "refund.*"]
REFUND_AMOUNT = 100  # minor units: a partial refund, so the order stays delivered


def probe() -> float:
    """The no-op task of ``Probe`` (run by a worker of the task cluster)."""
    return time.time()


# --- external provider webhooks -------------------------------------------------------------


@dataclass
class WebhookSender:
    """Open-loop signed webhooks at ``rate`` per second until stopped (never more than
    ``limit``); ``answers`` maps each webhook id to the statuses its sends got (0: no answer)."""

    port: int
    secret: str
    rate: float
    limit: int
    seed: int
    repeat_share: float = 0.15
    noise_share: float = 0.15
    answers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    kinds: Counter[str] = field(default_factory=Counter)
    refresh_failed: int = 0
    _bodies: list[str] = field(default_factory=list)
    _sent: list[tuple[str, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _refresh(self) -> None:
        """Bodies of facts the sandbox already sent (read from its rows), to redeliver."""
        from django.db import connection

        from integrations.models import SandboxWebhook

        try:
            rows = SandboxWebhook.objects.filter(status="sent").order_by("-id")[:400]
            bodies = [
                body
                for body in rows.values_list("body", flat=True)
                if json.loads(body).get("type") in REDELIVERED_TYPES
            ]
            if bodies:
                self._bodies = bodies
        except Exception:  # the database may be down mid-fault: keep the previous bodies
            self.refresh_failed += 1
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def _next(self, rng: random.Random, i: int) -> tuple[str, str, str]:
        roll = rng.random()
        if self._sent and roll < self.repeat_share:
            msg_id, body = rng.choice(self._sent)
            return "repeated id", msg_id, body
        msg_id = f"msg_ext_{uuid.uuid4().hex}"
        if self._bodies and roll < 1 - self.noise_share:
            body = rng.choice(self._bodies)
            return f"redelivered {json.loads(body)['type']}", msg_id, body
        body = json.dumps(
            {
                "type": "bench.ping",
                "timestamp": datetime.now(tz=UTC).isoformat(),
                "data": {"id": f"ping_{i}"},
            },
            separators=(",", ":"),
        )
        return "unhandled type", msg_id, body

    def _post(self, conn: http.client.HTTPConnection, msg_id: str, body: str) -> int:
        from standardwebhooks.webhooks import Webhook

        now = datetime.now(tz=UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(msg_id=msg_id, timestamp=now, data=body),
            "content-type": "application/json",
        }
        conn.request("POST", WEBHOOK_PATH, body=body.encode(), headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status

    def _run(self) -> None:
        rng = random.Random(self.seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        started = time.monotonic()
        last_refresh = 0.0
        for i in range(self.limit):
            if self._stop.is_set():
                break
            if time.monotonic() - last_refresh > 5:
                self._refresh()
                last_refresh = time.monotonic()
            delay = started + i / self.rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            kind, msg_id, body = self._next(rng, i)
            try:
                status = self._post(conn, msg_id, body)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.answers[msg_id].append(status)
            self.kinds[kind] += 1
            if kind != "repeated id":
                self._sent.append((msg_id, body))
        conn.close()

    @property
    def acknowledged(self) -> set[str]:
        return {msg_id for msg_id, statuses in self.answers.items() if 200 in statuses}

    def statuses(self) -> Counter[int]:
        return Counter(s for statuses in self.answers.values() for s in statuses)


def external_webhook_report(sender: WebhookSender) -> tuple[list[Check], dict[str, Any]]:
    """Acknowledged (200) ids against the stored rows: lost, stored twice, not finished."""
    from django.db.models import Count

    from integrations.models import WebhookEvent
    from integrations.webhooks.inbox import waiting_arrivals

    acked = sorted(sender.acknowledged)
    stored: Counter[str] = Counter()
    unfinished = 0
    attempts_over_one = 0
    for first in range(0, len(acked), 500):
        chunk = acked[first : first + 500]
        rows = WebhookEvent.objects.filter(event_id__in=chunk)
        for event_id, status, attempts in rows.values_list("event_id", "status", "attempts"):
            stored[event_id] += 1
            unfinished += status not in ("processed", "ignored")
            attempts_over_one += attempts > 1
    by_status = dict(
        WebhookEvent.objects.filter(event_id__startswith="msg_ext_")
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    all_ids = set(sender.answers)
    stored_unacked = (
        WebhookEvent.objects.filter(event_id__startswith="msg_ext_").count() - len(stored)
        if all_ids
        else 0
    )
    checks = [
        Check(
            "external webhooks answered 200 but not stored (lost)", len(set(acked) - set(stored))
        ),
        Check("external webhooks stored twice", sum(1 for n in stored.values() if n > 1)),
        Check("external webhooks stored, not processed once (unfinished)", unfinished),
        Check(
            "external webhooks still arrivals, not moved into the inbox",
            waiting_arrivals().filter(event_id__startswith="msg_ext_").count(),
        ),
    ]
    info = {
        "sent": sum(len(s) for s in sender.answers.values()),
        "ids": len(all_ids),
        "acked": len(acked),
        "stored_of_acked": len(stored),
        "stored_without_200": stored_unacked,
        "statuses": dict(sender.statuses()),
        "kinds": dict(sender.kinds),
        "by_status": by_status,
        "taken_again": attempts_over_one,
    }
    return checks, info


# --- refunds --------------------------------------------------------------------------------


@dataclass
class Refunder:
    """Requests and approves one partial refund per paid order, ``rate`` per second."""

    rate: float
    requested: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    _done: set[int] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        from accounts.models import User

        self.requester, _ = User.objects.get_or_create(username="chaos-support")
        self.approver, _ = User.objects.get_or_create(username="chaos-finance")
        self._thread = threading.Thread(target=self._run, name="refunder", daemon=True)
        self._thread.start()

    def stop(self, *, at_least: int = 0, wait: float = 60.0) -> None:
        """Stop once ``at_least`` refunds were requested, or after ``wait`` seconds (a short run
        on a slow machine may end its load before the first payment succeeded)."""
        deadline = time.monotonic() + wait
        while self.requested < at_least and time.monotonic() < deadline:
            time.sleep(0.2)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _one(self) -> None:
        from payments.models import Payment
        from payments.services import refund_approve, refund_request

        payment = (
            Payment.objects.filter(status="succeeded", amount__gt=REFUND_AMOUNT)
            .exclude(pk__in=self._done)
            .exclude(refunds__isnull=False)
            .order_by("id")
            .first()
        )
        if payment is None:
            return
        self._done.add(payment.pk)
        refund = refund_request(
            payment=payment,
            requested_by=self.requester,
            reason="requested_by_customer",
            amount=REFUND_AMOUNT,
            note="chaos bench",
        )
        self.requested += 1
        refund_approve(refund=refund, approver=self.approver)

    def _run(self) -> None:
        from django.db import connection

        while not self._stop.wait(1 / self.rate):
            try:
                self._one()
            except Exception as exc:  # the database may be down mid-fault: try again later
                self.failed[type(exc).__name__] += 1
                with contextlib.suppress(Exception):
                    connection.close()
        with contextlib.suppress(Exception):
            connection.close()


def refund_checks() -> tuple[list[Check], dict[str, Any]]:
    """Refunds applied twice: here (two refund.succeeded on one refund, money returned twice)
    and at the provider (the sandbox executing one refund twice: its refund.succeeded owed under
    two distinct webhook ids for one refund reference)."""
    from django.db.models import Count, Q, Sum

    from integrations.models import DomainEvent, SandboxWebhook
    from payments.models import Payment, Refund

    def dupes(qs: Any, *fields: str) -> int:
        return int(qs.values(*fields).annotate(n=Count("id")).filter(n__gt=1).count())

    returned = dict(
        Refund.objects.filter(status="succeeded")
        .values_list("payment_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    refunded = Payment.objects.filter(Q(amount_refunded__gt=0) | Q(pk__in=list(returned)))
    wrong_money = sum(
        1
        for pk, amount_refunded in refunded.values_list("pk", "amount_refunded")
        if returned.get(pk, 0) != amount_refunded
    )
    # The sandbox emits a refund's webhooks on every call; a call repeated after a kill carries
    # the same idempotency key (the refund's reference), so the provider must answer with the
    # same refund: one provider refund id per refund, however many calls.
    calls: dict[str, set[str]] = defaultdict(set)
    provider_ids: dict[str, set[str]] = defaultdict(set)
    for msg_id, body in SandboxWebhook.objects.values_list("msg_id", "body").iterator():
        data = json.loads(body)
        if data.get("type") == "refund.succeeded":
            reference = str(data["data"].get("reference"))
            calls[reference].add(msg_id)
            provider_ids[reference].add(str(data["data"].get("id")))
    checks = [
        Check(
            "dup: refunds requested 2+ on one payment (setup)", dupes(Refund.objects, "payment_id")
        ),
        Check(
            "dup: refund.succeeded events on one refund 2+",
            dupes(DomainEvent.objects.filter(type="refund.succeeded"), "subject_id"),
        ),
        Check("dup: payments whose refunded total != their succeeded refunds", wrong_money),
        Check(
            "dup: refunds executed 2+ at the provider (provider refund ids per refund)",
            sum(1 for ids in provider_ids.values() if len(ids) > 1),
        ),
    ]
    statuses = dict(Refund.objects.values_list("status").annotate(n=Count("id")).order_by())
    repeated = sum(1 for ids in calls.values() if len(ids) > 1)
    return checks, {"statuses": statuses, "provider_calls_repeated": repeated}


# --- outbound webhooks ----------------------------------------------------------------------


def outbound_endpoint(receiver: Any) -> int:
    """The endpoint to ``receiver`` (subscribed to order and refund events); its id."""
    from integrations.webhooks_out.services import endpoint_create

    endpoint, secret = endpoint_create(
        url=f"{receiver.url}/chaos", event_types=OUTBOUND_TYPES, description="chaos bench"
    )
    receiver.secrets.append(secret)
    return int(endpoint.pk)


def outbound_checks(receiver: Any, endpoint_id: int) -> tuple[list[Check], dict[str, Any]]:
    """Every succeeded message reached the receiver; no domain event reached it under two
    webhook ids (the receiver deduplicates by id, so that would be applied twice); no event
    fanned out twice; no event of a type the endpoint is sent left without a message."""
    from django.db.models import Count, Q

    from integrations.models import DomainEvent, WebhookMessage

    with receiver.lock:
        taken = dict(receiver.taken)
        redelivered = receiver.duplicates
    messages = WebhookMessage.objects.filter(endpoint_id=endpoint_id)
    succeeded = set(messages.filter(status="succeeded").values_list("msg_id", flat=True))
    ids_per_event: dict[Any, set[str]] = defaultdict(set)
    for msg_id, item in taken.items():
        ids_per_event[item["body"].get("data", {}).get("event_id")].add(msg_id)
    types = set(messages.values_list("event_type", flat=True))
    fanned = set(messages.exclude(event=None).values_list("event_id", flat=True))
    unsent_events = (
        DomainEvent.objects.filter(type__in=types).exclude(pk__in=fanned).count() if types else 0
    )
    checks = [
        Check("outbound: succeeded but never received (lost)", len(succeeded - set(taken))),
        Check(
            "dup: outbound events received under 2+ webhook ids",
            sum(1 for ids in ids_per_event.values() if len(ids) > 1),
        ),
        Check(
            "dup: outbound messages (endpoint, event) 2+",
            int(
                messages.exclude(event=None)
                .values("event_id")
                .annotate(n=Count("id"))
                .filter(n__gt=1)
                .count()
            ),
        ),
        Check("outbound: events of a delivered type never fanned out", unsent_events),
    ]
    by_status = dict(messages.values_list("status").annotate(n=Count("id")).order_by())
    info = {
        "messages": sum(by_status.values()),
        "by_status": by_status,
        "received": len(taken),
        "redelivered": redelivered,
        "retried": messages.filter(Q(attempts__gt=1)).count(),
    }
    return checks, info


# --- stuck rows and recovery ----------------------------------------------------------------


def stuck_counts() -> dict[str, int]:
    """Rows still claimed or mid-work (must all be zero once the sweepers ran)."""
    from integrations.models import Delivery, SandboxWebhook, WebhookEvent, WebhookMessage
    from payments.models import Refund

    return {
        "webhook events processing": WebhookEvent.objects.filter(status="processing").count(),
        "webhook events received/failed": WebhookEvent.objects.filter(
            status__in=["received", "failed"]
        ).count(),
        "deliveries running": Delivery.objects.filter(status="running").count(),
        "deliveries pending/failed": Delivery.objects.filter(
            status__in=["pending", "failed"]
        ).count(),
        "outbound messages sending": WebhookMessage.objects.filter(status="sending").count(),
        "outbound messages pending/failed": WebhookMessage.objects.filter(
            status__in=["pending", "failed"]
        ).count(),
        "sandbox webhooks pending": SandboxWebhook.objects.filter(status="pending").count(),
        "refunds approved/processing": Refund.objects.filter(
            status__in=["approved", "processing"]
        ).count(),
    }


class Probe:
    """Enqueues ``probe`` on the main cluster right after a restart and records, in a thread,
    when it has run: the restarted cluster took it after everything queued before it."""

    def __init__(self) -> None:
        self.results: list[tuple[str, float | None]] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def launch(self, kind: str, restarted: float, timeout: float = 120.0) -> None:
        thread = threading.Thread(
            target=self._watch, args=(kind, restarted, timeout), name="probe", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _watch(self, kind: str, restarted: float, timeout: float) -> None:
        from django.db import connection
        from django_q.tasks import async_task, fetch

        recovered: float | None = None
        try:
            task_id = async_task("bench.chaos_flows.probe", save=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    task = fetch(task_id)
                    if task is not None:
                        recovered = task.stopped.timestamp() - restarted
                        break
                with contextlib.suppress(Exception):
                    connection.close()
                time.sleep(0.25)
        except Exception:  # the broker or the database down (the probe itself was lost)
            recovered = None
        finally:
            with contextlib.suppress(Exception):
                connection.close()
        with self._lock:
            self.results.append((kind, recovered))

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class SweepKicker:
    """Every ``every`` seconds, enqueue each sweeper job on the sweeper cluster's queue, as its
    once-a-minute schedule does (the bounded CI run cannot wait minutes for them)."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.kicks = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweep-kicker", daemon=True)

    def _run(self) -> None:
        from django.conf import settings
        from django.db import connection
        from django_q.tasks import async_task

        from integrations.schedules import SCHEDULES, SWEEPERS

        jobs = [j for j in SCHEDULES if j.cluster == SWEEPERS and j.func.endswith(".sweep")]
        while not self._stop.wait(self.every):
            for job in jobs:
                try:
                    async_task(job.func, cluster=settings.Q_SWEEPER_CLUSTER, **job.kwargs)
                    self.kicks += 1
                except Exception:  # the broker or the database down mid-fault: next round
                    self.failed += 1
            with contextlib.suppress(Exception):
                connection.close()

    def __enter__(self) -> SweepKicker:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")
