"""Issue 14 item 2: the HubSpot client on the date-versioned API, its token bucket (190 per
10 s, shared through the database, stepped with an injected clock) and the fake's refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from accounts.crm.base import ContactInput
from accounts.crm.hubspot.client import HubSpotClient
from accounts.crm.hubspot.ratelimit import RateLimited, TokenBucket
from accounts.models import CrmSyncState
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import ProviderCall
from tests.support.fake_hubspot import TOKEN, FakeHubSpot
from tests.support.loopback import loopback_session
from tests.support.outbound import Sleeps

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_the_bucket_gives_190_requests_per_10_seconds_then_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(name="hubspot", capacity=190, period=10.0, clock=clock)
    assert [bucket.take() for _ in range(190)] == [0.0] * 190
    wait = bucket.take()
    assert wait == pytest.approx(10.0 / 190)
    clock.now += wait
    assert bucket.take() == 0.0
    assert bucket.take() > 0
    clock.now += 10.0
    assert [bucket.take() for _ in range(190)] == [0.0] * 190
    assert bucket.take() > 0


def test_the_bucket_is_shared_by_every_bucket_object_through_the_database() -> None:
    """Two workers (two bucket objects) draw from one row."""
    clock = Clock()
    first = TokenBucket(name="hubspot", capacity=190, period=10.0, clock=clock)
    second = TokenBucket(name="hubspot", capacity=190, period=10.0, clock=clock)
    for i in range(190):
        assert (first if i % 2 else second).take() == 0.0
    assert first.take() > 0 and second.take() > 0
    assert CrmSyncState.objects.get(provider="hubspot").bucket_tokens < 1


def test_acquire_sleeps_a_short_wait_and_refuses_a_long_one() -> None:
    clock = Clock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    bucket = TokenBucket(name="hubspot", capacity=2, period=10.0, clock=clock, sleep=sleep)
    bucket.acquire(max_wait=10)
    bucket.acquire(max_wait=10)
    bucket.acquire(max_wait=10)
    assert slept == [pytest.approx(5.0)]
    with pytest.raises(RateLimited) as refused:
        bucket.acquire(max_wait=1.0)
    assert refused.value.retry_after == pytest.approx(5.0)


def test_the_client_never_sends_more_than_190_in_10_seconds(
    fake_hubspot: FakeHubSpot, customer: Any
) -> None:
    """With the clock stopped, the 191st call is not sent: the fake never answers 429."""
    clock = Clock()
    client = HubSpotClient(session=loopback_session(), sleep=Sleeps(), clock=clock)
    contact = [ContactInput(customer.pk, customer.email, {"email": customer.email})]
    for _ in range(190):
        client.upsert_contacts(contact)
    with pytest.raises(RateLimited):
        client.upsert_contacts(contact)
    assert len(fake_hubspot.seen) == 190
    assert not ProviderCall.objects.filter(status_code=429).exists()


def test_the_fake_answers_429_with_retry_after_past_190_in_10_seconds(
    fake_hubspot: FakeHubSpot,
) -> None:
    session = loopback_session()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{fake_hubspot.url}/crm/objects/2026-09/deals/1"
    answers = [session.get(url, headers=headers) for _ in range(191)]
    assert {a.status_code for a in answers[:190]} == {404}
    assert answers[190].status_code == 429
    assert answers[190].headers["Retry-After"] == "1"
    assert answers[190].json()["category"] == "RATE_LIMITS"


def test_the_client_calls_only_date_versioned_paths(
    fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient, customer: Any
) -> None:
    [result] = hubspot_client.upsert_contacts(
        [ContactInput(customer.pk, customer.email, {"email": customer.email, "firstname": "Ana"})]
    )
    hubspot_client.add_note(
        contact_id=result.contact_id, body="Hi", at=datetime(2026, 3, 2, tzinfo=UTC), key="k1"
    )
    deal = fake_hubspot.add_deal(stage="closedwon", name="Pro", contact_ids=[result.contact_id])
    assert hubspot_client.deal(deal).contact_ids == (result.contact_id,)
    hubspot_client.journal_read(offset="", limit=10)

    paths = [s.path for s in fake_hubspot.seen]
    assert paths == [
        "/crm/objects/2026-09/contacts/batch/upsert",
        "/crm/objects/2026-09/notes",
        f"/crm/objects/2026-09/deals/{deal}",
        "/webhooks-journal/2026-03/54321/events",
    ]
    assert all(s.headers["authorization"] == f"Bearer {TOKEN}" for s in fake_hubspot.seen)
    [note] = fake_hubspot.notes
    assert note["associations"] == [
        {
            "to": {"id": result.contact_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]
    assert note["properties"]["hs_timestamp"] == "2026-03-02T00:00:00Z"
    ledger = ProviderCall.objects.order_by("id")
    assert [c.operation for c in ledger] == [
        "contacts.batch_upsert",
        "notes.create",
        "deals.read",
        "journal.read",
    ]
    assert not any(TOKEN in (c.url + c.error) for c in ledger)


def test_the_fake_refuses_the_legacy_v3_paths(fake_hubspot: FakeHubSpot) -> None:
    answer = requests.post(
        f"{fake_hubspot.url}/crm/v3/objects/contacts/batch/upsert",
        json={"inputs": []},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 410
    assert answer.json()["status"] == "error"


def test_a_wrong_token_is_a_401_with_hubspots_error_body(
    settings: Any, fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient, customer: Any
) -> None:
    settings.HUBSPOT_ACCESS_TOKEN = "pat-na1-wrong"
    with pytest.raises(ProviderRejected) as refused:
        hubspot_client.upsert_contacts([ContactInput(customer.pk, customer.email, {})])
    assert refused.value.status_code == 401
    assert refused.value.response is not None
    body = refused.value.response.json()
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert set(body) >= {"status", "message", "correlationId"}
    assert not fake_hubspot.contacts


def test_the_token_may_come_from_the_encrypted_store(
    settings: Any, fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient, customer: Any
) -> None:
    from cryptography.fernet import Fernet

    from integrations.credentials import credential_set

    settings.CREDENTIALS_KEYS = Fernet.generate_key().decode()
    settings.HUBSPOT_ACCESS_TOKEN = ""
    credential_set(provider="hubspot", name="access_token", value=TOKEN)
    assert hubspot_client.upsert_contacts([ContactInput(customer.pk, customer.email, {})])


def test_more_than_100_contacts_are_never_sent_in_one_request(
    fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient
) -> None:
    contacts = [ContactInput(i, f"c{i}@example.test", {}) for i in range(101)]
    with pytest.raises(ProviderRejected):
        hubspot_client.upsert_contacts(contacts)
    assert not fake_hubspot.seen
    answer = requests.post(
        f"{fake_hubspot.url}/crm/objects/2026-09/contacts/batch/upsert",
        json={"inputs": [{"idProperty": "email", "id": f"c{i}@x.test"} for i in range(101)]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 400


def test_an_outage_is_unavailable_after_the_clients_retries(
    fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient, customer: Any
) -> None:
    fake_hubspot.outage = True
    with pytest.raises(ProviderUnavailable):
        hubspot_client.upsert_contacts([ContactInput(customer.pk, customer.email, {})])
    assert ProviderCall.objects.filter(status_code=503).count() == 3
