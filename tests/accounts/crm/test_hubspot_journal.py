"""Issue 14 item 2: after an outage the Webhooks Journal is read from the stored offset, so no
change is lost (a 24-hour gap against the fake journal, which keeps 3 days and refuses older
offsets as HubSpot does)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from accounts.crm.hubspot.client import HubSpotClient
from accounts.crm.hubspot.workflows import hubspot_journal_catch_up
from accounts.models import CrmRecord, CrmSyncState, Customer
from integrations.models import DomainEvent, WebhookEvent
from tests.support.fake_hubspot import APP_ID, TOKEN, FakeHubSpot, serve_fake_hubspot
from tests.support.loopback import loopback_session
from tests.support.outbound import Sleeps

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(settings: Any, clock: Clock) -> Iterator[FakeHubSpot]:
    with serve_fake_hubspot(clock=clock) as fake:
        settings.HUBSPOT_BASE_URL = fake.url
        yield fake


def _catch_up(django_capture_on_commit_callbacks: Any) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        return hubspot_journal_catch_up(
            client=HubSpotClient(session=loopback_session(), sleep=Sleeps())
        )


def test_a_24_hour_gap_is_caught_up_from_the_stored_offset(
    journal: FakeHubSpot,
    clock: Clock,
    linked: Customer,
    post_hubspot: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = journal.change(kind="contact", object_id="501", name="lifecyclestage", value="lead")
    assert post_hubspot([first]).status_code == 200  # delivered as a webhook too
    assert _catch_up(django_capture_on_commit_callbacks) == 0, "already in the inbox"
    offset = CrmSyncState.objects.get(provider="hubspot").journal_offset
    assert offset == "2"

    # We are down for 24 hours: HubSpot's webhooks for these changes never arrive.
    clock.now += 1 * HOUR
    journal.change(kind="contact", object_id="501", name="lifecyclestage", value="opportunity")
    clock.now += 19 * HOUR
    journal.change(kind="contact", object_id="501", name="hubspot_owner_id", value="88")
    journal.change(kind="contact", object_id="501", name="email", value="not@ours.test")
    clock.now += 4 * HOUR

    assert _catch_up(django_capture_on_commit_callbacks) == 3

    record = CrmRecord.objects.get(customer=linked)
    assert (record.lifecycle_stage, record.owner_id) == ("opportunity", "88")
    linked.refresh_from_db()
    assert linked.email == "ana@example.test", "Switchboard owns the e-mail"
    assert WebhookEvent.objects.filter(provider="hubspot").exclude(event_type="batch").count() == 4
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert DomainEvent.objects.filter(type="crm.contact_updated").count() == 3
    [request] = journal.calls("/webhooks-journal/")[1:2]
    assert request.query["offset"] == [offset]
    assert CrmSyncState.objects.get(provider="hubspot").journal_offset == "5"
    assert _catch_up(django_capture_on_commit_callbacks) == 0


def test_the_journal_is_read_page_by_page(
    settings: Any,
    journal: FakeHubSpot,
    linked: Customer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.HUBSPOT_JOURNAL_PAGE_SIZE = 2
    for i in range(5):
        journal.change(kind="contact", object_id="501", name="dealstage", value=f"s{i}", at=T0 + i)
    assert _catch_up(django_capture_on_commit_callbacks) == 5
    assert len(journal.calls("/webhooks-journal/")) == 3
    assert CrmRecord.objects.get(customer=linked).deal_stage == "s4"


def test_the_fake_refuses_an_offset_older_than_3_days(journal: FakeHubSpot, clock: Clock) -> None:
    journal.change(kind="contact", object_id="501", name="lifecyclestage", value="lead")
    clock.now += 2 * HOUR
    journal.change(kind="contact", object_id="501", name="lifecyclestage", value="customer")
    url = f"{journal.url}/webhooks-journal/2026-03/{APP_ID}/events"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    session = loopback_session()
    assert session.get(url, params={"offset": "1"}, headers=headers).status_code == 200
    clock.now += 3 * 24 * HOUR - HOUR  # the first change is now older than 3 days
    refused = session.get(url, params={"offset": "1"}, headers=headers)
    assert refused.status_code == 410
    assert refused.json()["status"] == "error"
    assert session.get(url, params={"offset": "2"}, headers=headers).status_code == 200


def test_an_expired_offset_is_logged_and_reading_resumes_from_the_oldest_kept(
    journal: FakeHubSpot,
    clock: Clock,
    linked: Customer,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    CrmSyncState.objects.create(provider="hubspot", journal_offset="1")
    journal.change(kind="contact", object_id="501", name="lifecyclestage", value="lead")
    clock.now += 4 * 24 * HOUR
    journal.change(kind="contact", object_id="501", name="lifecyclestage", value="customer")
    with caplog.at_level("ERROR"):
        assert _catch_up(django_capture_on_commit_callbacks) == 1
    assert "crm.journal_offset_expired" in caplog.text
    assert CrmRecord.objects.get(customer=linked).lifecycle_stage == "customer"


def test_a_journal_outage_keeps_the_offset(
    journal: FakeHubSpot, linked: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    from integrations.exceptions import ProviderUnavailable

    CrmSyncState.objects.create(provider="hubspot", journal_offset="1")
    journal.change(kind="contact", object_id="501", name="lifecyclestage", value="lead")
    journal.outage = True
    with pytest.raises(ProviderUnavailable):
        _catch_up(django_capture_on_commit_callbacks)
    assert CrmSyncState.objects.get(provider="hubspot").journal_offset == "1"
    journal.outage = False
    assert _catch_up(django_capture_on_commit_callbacks) == 1
