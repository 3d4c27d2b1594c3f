"""Replay (service, admin action, command) really re-runs handlers, once in effect; pruning."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import CustomerIdentifier
from integrations.exceptions import InvalidTransition
from integrations.models import WebhookEvent, WebhookRejection
from integrations.webhooks import processing
from integrations.webhooks.processing import webhook_event_process, webhook_event_replay
from integrations.webhooks.tasks import prune
from orders.models import OrderStatus
from tests.factories import events_for, make_order, make_staff
from tests.integrations.webhooks.support import PROVIDER, signed

pytestmark = pytest.mark.django_db

S = WebhookEvent.Status


def _stored(deliver, event_type, data, **kw) -> WebhookEvent:
    response = deliver(*signed(event_type, data, **kw))
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["id"])


def _paid_events(order) -> int:
    return [e.type for e in events_for(order)].count("order.paid")


# --- the service ------------------------------------------------------------------------------


def test_replaying_a_processed_event_reruns_the_handler_without_a_second_effect(
    handlers, deliver, customer, admin_user, broker_idle
):
    order = make_order(customer=customer)
    event = _stored(deliver, "order.paid", {"id": "pay_r", "order_pk": order.pk})
    # Processed by a worker outside the request (the order's own subscribers are not under test).
    assert webhook_event_process(event_id=event.pk).status == S.PROCESSED
    assert _paid_events(order) == 1

    replayed = webhook_event_replay(event=event, actor=admin_user)

    assert replayed.status == S.PROCESSED
    assert replayed.attempts == 1
    assert handlers.calls == [event.event_id, event.event_id]  # really re-run...
    assert _paid_events(order) == 1  # ...but applied once
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert replayed.affected == [
        {"model": "orders.order", "pk": str(order.pk), "label": str(order)}
    ]


def test_replaying_a_dead_event_after_the_fix_processes_it(handlers, deliver, customer, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    handlers.flaky_failures_left = 1
    event = _stored(deliver, "test.flaky", {"id": "cus_dead", "customer_pk": customer.pk})
    assert event.status == S.DEAD

    replayed = webhook_event_replay(event=event)

    assert replayed.status == S.PROCESSED
    assert replayed.attempts == 1  # a fresh attempt budget
    assert CustomerIdentifier.objects.filter(external_id="cus_dead").count() == 1


def test_replay_refuses_an_event_a_live_worker_holds(handlers, deliver, customer, broker_idle):
    event = _stored(deliver, "customer.linked", {"id": "cus_h", "customer_pk": customer.pk})
    assert processing._claim(event.pk) is not None
    before = WebhookEvent.objects.values().get(pk=event.pk)

    with pytest.raises(InvalidTransition):
        webhook_event_replay(event=event)

    assert WebhookEvent.objects.values().get(pk=event.pk) == before
    assert handlers.calls == []


def test_replay_takes_over_an_event_whose_worker_died(
    handlers, deliver, customer, broker_idle, settings
):
    event = _stored(deliver, "customer.linked", {"id": "cus_dd", "customer_pk": customer.pk})
    assert processing._claim(event.pk) is not None
    WebhookEvent.objects.filter(pk=event.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS + 1)
    )
    assert webhook_event_replay(event=event).status == S.PROCESSED
    assert CustomerIdentifier.objects.filter(external_id="cus_dd").count() == 1


# --- the admin action -------------------------------------------------------------------------


def test_admin_action_replays_the_selected_events_only(
    handlers, deliver, customer, admin_user, client
):
    handlers.flaky_failures_left = 2
    first = _stored(deliver, "test.flaky", {"id": "cus_a1", "customer_pk": customer.pk})
    second = _stored(deliver, "test.flaky", {"id": "cus_a2", "customer_pk": customer.pk})
    assert {first.status, second.status} == {S.FAILED}
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:integrations_webhookevent_changelist"),
        {"action": "replay_selected", "_selected_action": [str(first.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Replayed 1 event(s): 1 processed." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == S.PROCESSED
    assert second.status == S.FAILED
    assert CustomerIdentifier.objects.filter(external_id="cus_a1").count() == 1
    assert not CustomerIdentifier.objects.filter(external_id="cus_a2").exists()


def test_admin_action_is_refused_to_staff_who_may_only_view(handlers, deliver, customer, client):
    handlers.flaky_failures_left = 1
    event = _stored(deliver, "test.flaky", {"id": "cus_v", "customer_pk": customer.pk})
    viewer = make_staff("inbox-viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)
    changelist = reverse("admin:integrations_webhookevent_changelist")
    assert client.get(changelist).status_code == 200

    client.post(changelist, {"action": "replay_selected", "_selected_action": [str(event.pk)]})

    event.refresh_from_db()
    assert event.status == S.FAILED
    assert event.attempts == 1


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def failed_events(handlers, deliver, customer):
    """Two failed test-provider events (recent and old), one failed event of another provider,
    one processed one."""
    handlers.flaky_failures_left = 2
    recent = _stored(deliver, "test.flaky", {"id": "cus_new", "customer_pk": customer.pk})
    old = _stored(deliver, "test.flaky", {"id": "cus_old", "customer_pk": customer.pk})
    done = _stored(deliver, "customer.linked", {"id": "cus_done", "customer_pk": customer.pk})
    WebhookEvent.objects.filter(pk=recent.pk).update(received_at=datetime(2026, 2, 1, tzinfo=UTC))
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=datetime(2025, 12, 1, tzinfo=UTC))
    other = WebhookEvent.objects.create(
        provider="other-provider",
        event_id="evt_other",
        event_type="customer.linked",
        body="{}",
        status=S.FAILED,
        received_at=datetime(2026, 2, 2, tzinfo=UTC),
    )
    return {"recent": recent, "old": old, "other": other, "done": done}


def _replay(*args: str) -> str:
    out = io.StringIO()
    call_command("replay_webhooks", *args, stdout=out)
    return out.getvalue()


def test_replay_command_replays_only_what_the_filters_select(failed_events, handlers):
    calls_before = len(handlers.calls)

    output = _replay(
        "--provider", PROVIDER, "--status", "failed", "--since", "2026-01-01T00:00:00Z"
    )

    assert "Replayed 1 event(s): processed 1." in output
    statuses = {k: WebhookEvent.objects.get(pk=e.pk).status for k, e in failed_events.items()}
    assert statuses == {
        "recent": S.PROCESSED,
        "old": S.FAILED,
        "other": S.FAILED,
        "done": S.PROCESSED,
    }
    assert len(handlers.calls) == calls_before + 1
    assert CustomerIdentifier.objects.filter(external_id="cus_new").count() == 1
    assert not CustomerIdentifier.objects.filter(external_id="cus_old").exists()


def test_replay_command_dry_run_lists_and_changes_nothing(failed_events, handlers):
    before = list(WebhookEvent.objects.order_by("pk").values())
    calls_before = len(handlers.calls)

    output = _replay("--provider", PROVIDER, "--status", "failed", "--dry-run")

    assert "Dry run: 2 event(s) would be replayed. Nothing changed." in output
    assert failed_events["recent"].event_id in output
    assert list(WebhookEvent.objects.order_by("pk").values()) == before
    assert len(handlers.calls) == calls_before


def test_replay_command_by_event_id_replays_a_processed_event_idempotently(failed_events):
    output = _replay("--event-id", failed_events["done"].event_id)
    assert "Replayed 1 event(s): processed 1." in output
    assert CustomerIdentifier.objects.filter(external_id="cus_done").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [((), "at least one filter"), (("--since", "yesterday"), "ISO 8601")],
)
def test_replay_command_refuses_unsafe_or_unclear_input(db, args, message):
    with pytest.raises(CommandError, match=message):
        _replay(*args)


# --- pruning ----------------------------------------------------------------------------------


def _event(status: str, age_days: float, n: list[int] = [0]) -> WebhookEvent:  # noqa: B006
    n[0] += 1
    at = timezone.now() - timedelta(days=age_days)
    finished = status in (S.PROCESSED, S.IGNORED)
    return WebhookEvent.objects.create(
        provider=PROVIDER,
        event_id=f"evt_prune_{n[0]}",
        body="{}",
        status=status,
        received_at=at,
        processed_at=at if finished else None,
    )


def test_prune_deletes_only_finished_events_past_retention_and_old_rejections(settings):
    settings.WEBHOOK_RETENTION_DAYS = 7
    settings.WEBHOOK_REJECTION_RETENTION_DAYS = 30
    doomed = [_event(S.PROCESSED, 8), _event(S.IGNORED, 8)]
    kept = [
        _event(S.PROCESSED, 6),
        _event(S.IGNORED, 6),
        *(_event(status, 60) for status in (S.RECEIVED, S.PROCESSING, S.FAILED, S.DEAD)),
    ]
    common = {"provider": PROVIDER, "reason": "x", "status_code": 401, "body_sha256": "0" * 64}
    WebhookRejection.objects.create(
        **common, body_size=1, received_at=timezone.now() - timedelta(days=31)
    )
    recent_rejection = WebhookRejection.objects.create(**common, body_size=2)

    out = io.StringIO()
    call_command("prune_webhooks", "--dry-run", stdout=out)
    assert "Would delete 2 webhook event(s)" in out.getvalue()
    assert "1 rejection(s)" in out.getvalue()
    assert WebhookEvent.objects.count() == 8

    out = io.StringIO()
    call_command("prune_webhooks", "--batch-size", "1", stdout=out)

    assert "Deleted 2 webhook event(s) older than 7 days and 1 rejection(s)" in out.getvalue()
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {e.pk for e in kept}
    assert not WebhookEvent.objects.filter(pk__in=[e.pk for e in doomed]).exists()
    assert list(WebhookRejection.objects.values_list("pk", flat=True)) == [recent_rejection.pk]
    assert prune() == {"events": 0, "rejections": 0, "arrivals": 0}
