"""The Delivery admin: a read-only changelist over a large table, and a retry action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import Delivery, DomainEvent
from tests.factories import make_staff
from tests.integrations.deliveries.helpers import Recorder, deliveries_of, emit

CHANGELIST = "admin:integrations_delivery_changelist"


@pytest.fixture
def staff_client(client: Client, admin_user) -> Client:
    client.force_login(admin_user)
    return client


@pytest.fixture
def crm(subscribe) -> Recorder:
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    subscribe("mail.notify", Recorder("mail"))
    return recorder


@pytest.fixture
def events(customer, crm) -> list[DomainEvent]:
    """Three events, two deliveries each; the first event's CRM delivery has failed."""
    events = [emit(customer, excerpt=f"note {n}") for n in range(3)]
    Delivery.objects.filter(event=events[0], subscriber="crm.sync_note").update(
        status=Delivery.Status.FAILED,
        attempts=2,
        last_error="ConnectionError: CRM unreachable",
        next_attempt_at=timezone.now() + timedelta(minutes=10),
    )
    return events


def listed(response) -> list[int]:
    return [d.pk for d in response.context["cl"].result_list]


def test_changelist_lists_deliveries_in_constant_queries(
    staff_client, events, customer, django_assert_max_num_queries
):
    url = reverse(CHANGELIST)
    # Session, user, capped count, one page of rows joined to their events.
    with django_assert_max_num_queries(4):
        staff_client.get(url)
    events.extend(emit(customer, excerpt=f"more {n}") for n in range(10))

    with django_assert_max_num_queries(4):
        response = staff_client.get(url)

    assert response.status_code == 200
    assert len(listed(response)) == Delivery.objects.count() == 26
    content = response.content.decode()
    assert "crm.sync_note" in content
    assert "note.added" in content
    assert "ConnectionError: CRM unreachable" in content


def test_changelist_filters_by_status_and_subscriber(staff_client, events):
    failed = Delivery.objects.get(status=Delivery.Status.FAILED)

    by_status = staff_client.get(reverse(CHANGELIST), {"status__exact": "failed"})
    by_subscriber = staff_client.get(reverse(CHANGELIST), {"subscriber": "mail.notify"})

    assert listed(by_status) == [failed.pk]
    assert set(listed(by_subscriber)) == set(
        Delivery.objects.filter(subscriber="mail.notify").values_list("pk", flat=True)
    )
    assert "crm.sync_note" in by_subscriber.content.decode()  # offered in the filter


def test_changelist_filters_by_date(staff_client, events):
    old = Delivery.objects.filter(event=events[1])
    old.update(created_at=timezone.now() - timedelta(days=30))

    # What the filter's "Past 7 days" link sends.
    week_ago = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=7)
    response = staff_client.get(reverse(CHANGELIST), {"created_at__gte": str(week_ago)})

    assert response.status_code == 200
    assert set(listed(response)).isdisjoint(old.values_list("pk", flat=True))
    assert len(listed(response)) == 4


def test_search_by_event_id_is_exact(staff_client, events):
    response = staff_client.get(reverse(CHANGELIST), {"q": str(events[1].pk)})
    nonsense = staff_client.get(reverse(CHANGELIST), {"q": "not-a-number"})

    assert set(listed(response)) == {d.pk for d in deliveries_of(events[1]).values()}
    assert nonsense.status_code == 200
    assert listed(nonsense) == []


def test_change_page_shows_the_event_attempts_and_error(staff_client, events):
    failed = Delivery.objects.get(status=Delivery.Status.FAILED)

    response = staff_client.get(reverse("admin:integrations_delivery_change", args=[failed.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "note.added" in content
    assert "note 0" in content  # the event's summary
    assert "ConnectionError: CRM unreachable" in content
    assert reverse("admin:integrations_domainevent_change", args=[events[0].pk]) in content


def test_deliveries_cannot_be_edited_or_deleted_in_the_admin(staff_client, events):
    delivery = Delivery.objects.get(status=Delivery.Status.FAILED)
    url = reverse("admin:integrations_delivery_change", args=[delivery.pk])

    response = staff_client.post(url, {"status": "succeeded", "attempts": "0"})

    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert staff_client.get(reverse("admin:integrations_delivery_add")).status_code == 403


def test_retry_action_requeues_failed_and_dead_and_skips_the_rest(
    staff_client, events, crm, django_capture_on_commit_callbacks
):
    failed = Delivery.objects.get(status=Delivery.Status.FAILED)
    dead = deliveries_of(events[1])["crm.sync_note"]
    Delivery.objects.filter(pk=dead.pk).update(status=Delivery.Status.DEAD, attempts=8)
    pending = deliveries_of(events[2])["crm.sync_note"]

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse(CHANGELIST),
            {"action": "retry_selected", "_selected_action": [failed.pk, dead.pk, pending.pk]},
            follow=True,
        )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert "2 deliveries queued for retry." in messages
    assert any(m.startswith("1 delivery skipped") for m in messages)
    for delivery in (failed, dead):
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.SUCCEEDED
        assert delivery.attempts == 1
    assert crm.calls == {events[0].pk: 1, events[1].pk: 1}
    pending.refresh_from_db()
    assert pending.status == Delivery.Status.PENDING  # not touched by the action


def test_retry_needs_the_change_delivery_permission(client, events):
    viewer = make_staff("viewer")
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="integrations", codename="view_delivery")
    )
    client.force_login(viewer)
    failed = Delivery.objects.get(status=Delivery.Status.FAILED)

    page = client.get(reverse(CHANGELIST))
    response = client.post(
        reverse(CHANGELIST), {"action": "retry_selected", "_selected_action": [failed.pk]}
    )

    assert page.status_code == 200
    assert "retry_selected" not in page.content.decode()
    assert response.status_code in (200, 302)
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.FAILED
    assert failed.attempts == 2
