"""Issue 14 item 2: customers out to HubSpot (coalesced upserts in batches of 100, only
Switchboard-owned properties, an outage retried later), notes for orders, payments, refunds
and shipments, and a closed-won deal activating the customer's plan, announced to the
business's webhook endpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.crm.base import SWITCHBOARD_OWNED_PROPERTIES
from accounts.crm.hubspot.client import HubSpotClient
from accounts.crm.hubspot.workflows import hubspot_contacts_flush, hubspot_note_add
from accounts.customers.services import customer_identifier_link, customer_update
from accounts.customers.summary import customer_summary
from accounts.models import CrmContactSync, CrmNote, CrmRecord, Customer, CustomerIdentifier
from integrations.deliveries.relay import delivery_run
from integrations.events import get_event_type, record_event
from integrations.models import Delivery, DomainEvent, WebhookMessage
from integrations.webhooks_out.services import endpoint_create
from orders.models import OrderStatus
from tests.accounts.crm.conftest import contact_change
from tests.factories import make_customer, make_order
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.webhook_receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.django_db


def _flush(client: HubSpotClient, *, after: float = 11.0) -> int:
    return hubspot_contacts_flush(client=client, now=timezone.now() + timedelta(seconds=after))


def _upserts(fake: FakeHubSpot) -> list[Any]:
    return fake.calls("/contacts/batch/upsert")


def test_many_changes_to_one_customer_become_one_upsert(
    fake_hubspot: FakeHubSpot,
    hubspot_client: HubSpotClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        customer = make_customer(name="Ana Souza", email="ana@example.test")
        customer_update(customer=customer, name="Ana Maria Souza")
        customer_update(customer=customer, phone="+5511987654321")
        customer_identifier_link(customer=customer, system="stripe", external_id="cus_1")

    assert CrmContactSync.objects.filter(customer=customer).count() == 1
    assert hubspot_contacts_flush(client=hubspot_client) == 0, "not due within the window"
    assert not fake_hubspot.seen

    assert _flush(hubspot_client) == 1
    [call] = _upserts(fake_hubspot)
    [sent] = call.body["inputs"]
    assert sent["idProperty"] == "email" and sent["id"] == "ana@example.test"
    assert sent["properties"]["firstname"] == "Ana"
    assert sent["properties"]["lastname"] == "Maria Souza"
    assert sent["properties"]["phone"] == "+5511987654321"
    contact_id = fake_hubspot.contact_id("ana@example.test")
    assert (
        CustomerIdentifier.objects.get(customer=customer, system="hubspot").external_id
        == contact_id
    )
    assert CrmRecord.objects.get(customer=customer).contact_id == contact_id
    assert DomainEvent.objects.filter(customer=customer, type="crm.contact_synced").count() == 1
    assert not CrmContactSync.objects.exists()
    assert _flush(hubspot_client) == 0
    assert len(_upserts(fake_hubspot)) == 1


def test_a_change_during_the_upsert_keeps_the_request_for_the_next_one(
    fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient, customer: Customer
) -> None:
    from accounts.crm.services import crm_contact_sync_request, crm_contacts_synced

    crm_contact_sync_request(customer_id=customer.pk)
    before = CrmContactSync.objects.get().requested_at
    crm_contact_sync_request(customer_id=customer.pk, now=before + timedelta(seconds=1))
    crm_contacts_synced(
        provider="hubspot", contact_ids={customer.pk: "9"}, requested={customer.pk: before}
    )
    assert CrmContactSync.objects.filter(customer=customer).exists()


def test_150_customers_go_out_in_two_requests_of_at_most_100(
    fake_hubspot: FakeHubSpot,
    hubspot_client: HubSpotClient,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(150):
            make_customer(name=f"C {i}", email=f"c{i}@example.test")
    assert CrmContactSync.objects.count() == 150

    assert _flush(hubspot_client) == 150
    assert [len(c.body["inputs"]) for c in _upserts(fake_hubspot)] == [100, 50]
    assert CustomerIdentifier.objects.filter(system="hubspot").count() == 150


def test_an_upsert_never_sends_a_crm_owned_property(
    fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient, linked: Customer
) -> None:
    from accounts.crm.services import crm_contact_sync_request

    CrmRecord.objects.filter(customer=linked).update(
        owner_id="77", lifecycle_stage="customer", deal_stage="closedwon"
    )
    make_order(customer=linked, amount=12_345, status=OrderStatus.PAID)
    crm_contact_sync_request(customer_id=linked.pk)
    _flush(hubspot_client)

    [call] = _upserts(fake_hubspot)
    properties = call.body["inputs"][0]["properties"]
    assert set(properties) <= SWITCHBOARD_OWNED_PROPERTIES
    assert not {"hubspot_owner_id", "lifecyclestage", "dealstage"} & set(properties)
    assert properties["switchboard_orders_count"] == "1"
    assert properties["switchboard_lifetime_value"] == "123.45"
    record = CrmRecord.objects.get(customer=linked)
    assert (record.owner_id, record.lifecycle_stage) == ("77", "customer"), "CRM-owned, kept"


def test_an_outage_postpones_the_upsert_and_a_later_flush_sends_it(
    fake_hubspot: FakeHubSpot, hubspot_client: HubSpotClient, customer: Customer
) -> None:
    from accounts.crm.services import crm_contact_sync_request

    crm_contact_sync_request(customer_id=customer.pk)
    fake_hubspot.outage = True
    assert _flush(hubspot_client) == 0
    pending = CrmContactSync.objects.get(customer=customer)
    assert pending.attempts == 1 and "503" in pending.last_error
    assert pending.due_at > timezone.now() + timedelta(seconds=20)
    assert not fake_hubspot.contacts

    fake_hubspot.outage = False
    sent_before = len(_upserts(fake_hubspot))
    assert _flush(hubspot_client) == 0, "not due again yet"
    assert len(_upserts(fake_hubspot)) == sent_before
    assert _flush(hubspot_client, after=3600) == 1
    assert fake_hubspot.contact_id(customer.email) is not None
    assert not CrmContactSync.objects.exists()


def _record_payment_succeeded(customer: Customer) -> DomainEvent:
    payload = get_event_type("payment.succeeded").payload.example()
    with transaction.atomic():
        return record_event(type="payment.succeeded", customer=customer, data=payload)


def test_a_payment_becomes_a_note_on_the_contact_once(
    fake_hubspot: FakeHubSpot, linked: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    fake_hubspot.contacts["501"] = {"email": linked.email}
    with django_capture_on_commit_callbacks(execute=True):
        event = _record_payment_succeeded(linked)

    [note] = fake_hubspot.notes
    assert note["associations"][0]["to"] == {"id": "501"}
    assert note["properties"]["hs_note_body"].startswith("Payment succeeded: ")
    assert CrmNote.objects.get(event_id=event.pk).note_id == note["id"]
    assert (
        Delivery.objects.get(event=event, subscriber="crm.hubspot.add_note").status == "succeeded"
    )
    # Handled again (a stale claim taken over): no second note.
    assert hubspot_note_add(event=event) is None
    assert len(fake_hubspot.notes) == 1


def test_a_note_for_a_customer_not_yet_in_hubspot_upserts_the_contact_first(
    fake_hubspot: FakeHubSpot, customer: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _record_payment_succeeded(customer)
    contact_id = fake_hubspot.contact_id(customer.email)
    assert contact_id is not None
    [note] = fake_hubspot.notes
    assert note["associations"][0]["to"] == {"id": contact_id}
    assert CustomerIdentifier.objects.filter(customer=customer, system="hubspot").exists()


def test_a_note_during_an_outage_is_retried_later_not_dropped(
    fake_hubspot: FakeHubSpot, linked: Customer, django_capture_on_commit_callbacks: Any
) -> None:
    fake_hubspot.contacts["501"] = {"email": linked.email}
    fake_hubspot.outage = True
    with django_capture_on_commit_callbacks(execute=True):
        event = _record_payment_succeeded(linked)
    delivery = Delivery.objects.get(event=event, subscriber="crm.hubspot.add_note")
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > timezone.now()
    assert not fake_hubspot.notes

    fake_hubspot.outage = False
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_run(delivery_id=delivery.pk).status == "succeeded"
    assert len(fake_hubspot.notes) == 1


def test_nothing_is_queued_for_hubspot_while_it_is_disabled(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.HUBSPOT_ENABLED = False
    with django_capture_on_commit_callbacks(execute=True):
        customer = make_customer(email="off@example.test")
        _record_payment_succeeded(customer)
    assert not Delivery.objects.filter(subscriber__startswith="crm.hubspot").exists()
    assert not CrmContactSync.objects.exists()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


def test_a_closed_won_deal_activates_the_plan_and_announces_it(
    fake_hubspot: FakeHubSpot, linked: Customer, post_hubspot: Any, receiver: Receiver
) -> None:
    endpoint, secret = endpoint_create(
        url=f"{receiver.url}/hooks", event_types=["customer.plan_activated"]
    )
    receiver.secrets.append(secret)
    deal_id = fake_hubspot.add_deal(stage="closedwon", name="Pro annual", contact_ids=["501"])
    at = round(time.time() * 1000)
    change = contact_change(
        event_id=901, contact_id=deal_id, name="dealstage", value="closedwon", at_ms=at, kind="deal"
    )

    assert post_hubspot([change]).status_code == 200

    linked.refresh_from_db()
    assert linked.plan_name == "Pro annual"
    assert linked.plan_activated_at is not None
    assert CrmRecord.objects.get(customer=linked).deal_stage == "closedwon"
    types = set(DomainEvent.objects.filter(customer=linked).values_list("type", flat=True))
    assert {"customer.plan_activated", "crm.deal_won", "crm.contact_updated"} <= types
    plan = customer_summary(customer=linked)["plan"]
    assert plan["name"] == "Pro annual" and plan["activated_at"]
    [message] = WebhookMessage.objects.filter(endpoint=endpoint)
    assert message.status == WebhookMessage.Status.SUCCEEDED
    [taken] = receiver.taken.values()
    assert taken["body"]["type"] == "customer.plan_activated"
    assert taken["body"]["data"]["payload"]["plan"] == "Pro annual"
    assert taken["body"]["data"]["payload"]["source"] == f"hubspot deal {deal_id}"

    # The same change again (HubSpot's retry): nothing more.
    post_hubspot([change])
    assert DomainEvent.objects.filter(type="customer.plan_activated").count() == 1


def test_a_deal_moving_to_another_stage_activates_nothing(
    fake_hubspot: FakeHubSpot, linked: Customer, post_hubspot: Any
) -> None:
    deal_id = fake_hubspot.add_deal(stage="appointmentscheduled", name="Pro", contact_ids=["501"])
    at = round(time.time() * 1000)
    post_hubspot(
        [
            contact_change(
                event_id=902,
                contact_id=deal_id,
                name="dealstage",
                value="appointmentscheduled",
                at_ms=at,
                kind="deal",
            )
        ]
    )
    linked.refresh_from_db()
    assert linked.plan_name == "" and linked.plan_activated_at is None
    assert CrmRecord.objects.get(customer=linked).deal_stage == "appointmentscheduled"
    assert not DomainEvent.objects.filter(type="customer.plan_activated").exists()
