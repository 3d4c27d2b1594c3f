"""Processing: claim once, run the handler, record success, ignore, retry with backoff, give up."""

from __future__ import annotations

import pydoc
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import CustomerIdentifier
from integrations.models import DomainEvent, WebhookEvent
from integrations.webhooks import processing
from integrations.webhooks.processing import (
    process_due_webhooks,
    webhook_event_process,
    webhook_retry_delay,
)
from integrations.webhooks.registry import unregister_webhook_endpoint
from integrations.webhooks.tasks import sweep
from tests.factories import events_for, make_order
from tests.integrations.webhooks.support import PROVIDER, make_due, signed

pytestmark = pytest.mark.django_db

S = WebhookEvent.Status


def _linked(customer) -> int:
    return DomainEvent.objects.filter(type="customer.identifier_linked", customer=customer).count()


def _stored(deliver, event_type, data, **kw) -> WebhookEvent:
    response = deliver(*signed(event_type, data, **kw))
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["id"])


def test_unknown_event_type_is_stored_answered_200_and_ignored(handlers, deliver):
    event = _stored(deliver, "invoice.finalized", {"id": "in_1"})
    assert event.status == S.IGNORED
    assert event.processed_at is not None
    assert event.next_attempt_at is None
    assert event.object_id == "in_1"
    assert handlers.calls == []


def test_processing_a_finished_event_again_does_nothing(handlers, deliver, customer):
    event = _stored(deliver, "customer.linked", {"id": "cus_1", "customer_pk": customer.pk})
    before = WebhookEvent.objects.values().get(pk=event.pk)

    again = webhook_event_process(event_id=event.pk)

    assert again.status == S.PROCESSED
    assert WebhookEvent.objects.values().get(pk=event.pk) == before
    assert len(handlers.calls) == 1
    assert _linked(customer) == 1


def test_failing_handler_records_error_and_traceback_and_backs_off(
    handlers, deliver, customer, settings
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 100
    before = timezone.now()
    event = _stored(deliver, "test.explode", {"id": "cus_x", "customer_pk": customer.pk})

    assert event.status == S.FAILED
    assert event.attempts == 1
    assert event.last_error == "ProviderSaidNo: provider said no"
    assert "Traceback (most recent call last)" in event.traceback
    assert "in explode" in event.traceback
    assert event.next_attempt_at is not None
    assert before + timedelta(seconds=79) < event.next_attempt_at
    assert event.next_attempt_at < timezone.now() + timedelta(seconds=121)
    assert event.processed_at is None


def test_failed_attempt_rolls_back_the_handlers_domain_writes(handlers, deliver, customer):
    event = _stored(deliver, "test.explode", {"id": "cus_rb", "customer_pk": customer.pk})
    assert event.status == S.FAILED
    assert handlers.calls == [event.event_id]  # the handler did run and write...
    assert not CustomerIdentifier.objects.filter(external_id="cus_rb").exists()  # ...rolled back
    assert _linked(customer) == 0


def test_failed_event_waits_for_its_retry_time_then_the_sweeper_retries_it(
    handlers, deliver, customer
):
    handlers.flaky_failures_left = 1
    event = _stored(deliver, "test.flaky", {"id": "cus_f", "customer_pk": customer.pk})
    assert event.status == S.FAILED

    assert sweep() == 0  # not due yet
    event.refresh_from_db()
    assert (event.status, event.attempts) == (S.FAILED, 1)

    make_due(event)
    assert sweep() == 1
    event.refresh_from_db()
    assert event.status == S.PROCESSED
    assert event.attempts == 2
    assert event.next_attempt_at is None
    assert event.last_error == "ProviderSaidNo: flaky provider"  # kept as history
    assert CustomerIdentifier.objects.filter(external_id="cus_f").count() == 1
    assert _linked(customer) == 1


def test_event_is_dead_after_max_attempts_and_never_retried_again(
    handlers, deliver, customer, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    event = _stored(deliver, "test.explode", {"id": "cus_d", "customer_pk": customer.pk})
    for attempt in (2, 3):
        make_due(event)
        assert sweep() == 1
        event.refresh_from_db()
        assert event.attempts == attempt
    assert event.status == S.DEAD
    assert event.next_attempt_at is None
    assert "provider said no" in event.last_error

    assert sweep() == 0
    assert webhook_event_process(event_id=event.pk).attempts == 3
    assert len(handlers.calls) == 3
    assert not CustomerIdentifier.objects.filter(external_id="cus_d").exists()


def test_unregistered_provider_at_processing_time_fails_and_is_kept(handlers, deliver, broker_down):
    event = _stored(deliver, "customer.linked", {"id": "cus_u", "customer_pk": 1})
    unregister_webhook_endpoint(PROVIDER)
    event = webhook_event_process(event_id=event.pk)
    assert event.status == S.FAILED
    assert "No webhook endpoint is registered" in event.last_error


def test_an_event_held_by_a_live_worker_is_not_claimed_again(
    handlers, deliver, customer, broker_idle
):
    event = _stored(deliver, "customer.linked", {"id": "cus_live", "customer_pk": customer.pk})
    assert broker_idle == [("integrations.webhooks.tasks.drain",)]
    assert processing._claim(event.pk) is not None  # worker A holds it

    again = webhook_event_process(event_id=event.pk)  # worker B
    assert again.status == S.PROCESSING
    assert again.attempts == 1
    assert sweep() == 0
    assert handlers.calls == []


def test_worker_killed_mid_event_is_reclaimed_by_the_sweeper_and_applied_once(
    handlers, deliver, customer, settings, broker_idle
):
    event = _stored(deliver, "customer.linked", {"id": "cus_killed", "customer_pk": customer.pk})
    assert event.status == S.RECEIVED
    # A worker claims it and dies before committing anything (its transaction is lost).
    assert processing._claim(event.pk) is not None
    assert sweep() == 0  # the claim is still fresh: nobody steals it

    WebhookEvent.objects.filter(pk=event.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS + 1)
    )
    assert sweep() == 1

    event.refresh_from_db()
    assert event.status == S.PROCESSED
    assert event.attempts == 2
    assert handlers.calls == [event.event_id]
    assert CustomerIdentifier.objects.filter(external_id="cus_killed").count() == 1
    assert _linked(customer) == 1
    assert sweep() == 0


def test_an_event_that_kills_its_worker_every_time_ends_dead_without_another_run(
    handlers, deliver, customer, settings, broker_idle
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    event = _stored(deliver, "customer.linked", {"id": "cus_poison", "customer_pk": customer.pk})
    stale = timezone.now() - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS + 1)
    for _ in range(2):  # two workers claim it and die
        assert processing._claim(event.pk) is not None
        WebhookEvent.objects.filter(pk=event.pk).update(claimed_at=stale)

    assert sweep() == 1

    event.refresh_from_db()
    assert event.status == S.DEAD
    assert event.attempts == 3
    assert "worker stopped" in event.last_error
    assert handlers.calls == []
    assert sweep() == 0


def test_a_worker_that_lost_its_claim_cannot_record_or_apply_anything(
    handlers, deliver, customer, settings, broker_idle
):
    order = make_order(customer=customer)
    event = _stored(deliver, "order.paid", {"id": "pay_1", "order_pk": order.pk})
    slow_worker_view = processing._claim(event.pk)  # worker A, then it stalls
    assert slow_worker_view is not None
    WebhookEvent.objects.filter(pk=event.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS + 1)
    )
    assert webhook_event_process(event_id=event.pk).status == S.PROCESSED  # worker B took over
    done = WebhookEvent.objects.values().get(pk=event.pk)

    processing._run(slow_worker_view)  # worker A wakes up and runs the handler

    assert WebhookEvent.objects.values().get(pk=event.pk) == done
    assert [e.type for e in events_for(order)].count("order.paid") == 1


def test_process_due_webhooks_drains_in_batches_up_to_its_limit(
    handlers, deliver, customer, broker_down
):
    for n in range(5):
        _stored(deliver, "customer.linked", {"id": f"cus_{n}", "customer_pk": customer.pk})
    assert WebhookEvent.objects.filter(status=S.RECEIVED).count() == 5

    assert process_due_webhooks(limit=3) == 3
    assert process_due_webhooks(limit=3) == 2
    assert process_due_webhooks(limit=3) == 0
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {S.PROCESSED}
    assert CustomerIdentifier.objects.filter(customer=customer).count() == 5


def test_process_due_webhooks_tries_each_event_once_per_call(
    handlers, deliver, customer, settings, broker_down
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0  # a failure is due again at once
    _stored(deliver, "test.explode", {"id": "cus_again", "customer_pk": customer.pk})
    assert process_due_webhooks() == 1
    assert len(handlers.calls) == 1


def test_process_due_webhooks_stops_when_its_time_budget_is_spent(
    handlers, deliver, customer, broker_down
):
    _stored(deliver, "customer.linked", {"id": "cus_t", "customer_pk": customer.pk})
    assert process_due_webhooks(time_budget_seconds=0) == 0
    assert handlers.calls == []


@settings(max_examples=60, deadline=None)
@given(attempts=st.integers(min_value=1, max_value=200))
def test_retry_delay_doubles_from_the_base_caps_at_the_max_and_jitters_20_percent(attempts):
    from django.conf import settings as django_settings

    base = django_settings.WEBHOOK_RETRY_BASE_SECONDS
    cap = django_settings.WEBHOOK_RETRY_MAX_SECONDS
    nominal = min(cap, base * 2 ** (attempts - 1))
    assert 0.8 * nominal <= webhook_retry_delay(attempts) <= 1.2 * nominal


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order_of_deliveries=st.permutations(["a", "b", "c", "a", "b"]))
def test_any_order_of_duplicate_deliveries_yields_one_row_and_one_effect_per_event(
    handlers, deliver, customer, order_of_deliveries
):
    suffix = WebhookEvent.objects.count()  # the database is shared by the examples
    for key in order_of_deliveries:
        external = f"cus_{key}_{suffix}"
        deliver(
            *signed(
                "customer.linked",
                {"id": external, "customer_pk": customer.pk},
                msg_id=f"msg_{key}_{suffix}",
            )
        )
    rows = WebhookEvent.objects.filter(event_id__endswith=f"_{suffix}")
    assert rows.count() == 3
    assert set(rows.values_list("status", flat=True)) == {S.PROCESSED}
    for key in "abc":
        assert CustomerIdentifier.objects.filter(external_id=f"cus_{key}_{suffix}").count() == 1


def test_the_sweeper_is_scheduled_every_minute():
    from integrations.schedules import SCHEDULES

    spec = next(s for s in SCHEDULES if s.name == "webhooks-sweep")
    assert spec.minutes == 1
    assert pydoc.locate(spec.func) is sweep
