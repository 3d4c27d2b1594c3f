"""HubSpot work that calls the API: the coalesced contact upserts, notes for domain events,
won deals' contacts and the Webhooks Journal catch-up. Each runs outside any transaction
(tasks and non-atomic subscribers) and writes through ``accounts.crm.services``.

Outages queue work, they never drop it: a failed upsert stays pending with a later due time; a
failed note or deal read raises, and its Delivery row is retried with backoff by the relay; a
journal read that fails keeps the stored offset for the next run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.crm.base import ContactInput, DealInfo, contact_properties
from accounts.crm.hubspot.client import BATCH_LIMIT, PROVIDER, HubSpotClient, JournalOffsetExpired
from accounts.crm.hubspot.webhooks import SLUG, element_parsed
from accounts.crm.services import (
    crm_contact_sync_request,
    crm_contact_syncs_drop,
    crm_contact_syncs_due,
    crm_contact_syncs_postpone,
    crm_contacts_synced,
    crm_deal_apply,
)
from accounts.events import CrmDealStageChangedPayload
from accounts.models import CrmNote, CrmSyncState, Customer, CustomerIdentifier
from integrations.events import event_payload, get_event_type, render_summary
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import DomainEvent
from integrations.webhooks.inbox import webhook_event_store
from integrations.webhooks.registry import MalformedWebhook

log = structlog.get_logger(__name__)

CONTACT_EVENT_TYPES = frozenset(
    {
        "customer.created",
        "customer.updated",
        "customer.identifier_linked",
        "order.placed",
        "order.paid",
        "order.cancelled",
        "order.refunded",
    }
)
"""Changes to what the contact carries (contact data, lifetime value, orders count)."""
NOTE_EVENT_TYPES = frozenset(
    {
        "order.placed",
        "order.paid",
        "order.cancelled",
        "order.refunded",
        "payment.succeeded",
        "payment.failed",
        "refund.requested",
        "refund.succeeded",
        "refund.failed",
        "shipment.posted",
        "shipment.delivered",
        "shipment.delivery_failed",
        "shipment.returned",
    }
)
"""Domain events that become a note on the customer's HubSpot contact."""
MAX_RETRY_SECONDS = 3600


def hubspot_wants(event_type: str) -> bool:
    """Whether HubSpot's subscribers take events now (no Delivery rows while it is off)."""
    return bool(settings.HUBSPOT_ENABLED)


def hubspot_contact_sync_request(*, event: DomainEvent) -> None:
    """A customer's contact data, orders or money changed: ask for a (coalesced) upsert."""
    if event.customer_id is not None:
        crm_contact_sync_request(customer_id=event.customer_id)


def _retry_at(now: datetime, attempts: int, exc: ProviderUnavailable) -> datetime:
    seconds = exc.retry_after if exc.retry_after else min(MAX_RETRY_SECONDS, 30 * 2**attempts)
    return now + timedelta(seconds=max(1.0, float(seconds)))


def hubspot_contacts_flush(
    *, client: HubSpotClient | None = None, now: datetime | None = None, max_batches: int = 20
) -> int:
    """Upsert every due pending contact, up to 100 per request. Answers how many contacts
    HubSpot now holds. An outage or rate limit postpones the batch (nothing dropped); a 4xx
    drops it with a log line (the customer's next change asks again)."""
    client = client or HubSpotClient()
    now = now or timezone.now()
    synced = 0
    for _ in range(max_batches):
        due = crm_contact_syncs_due(now=now, limit=BATCH_LIMIT)
        if not due:
            break
        no_email = [row.customer_id for row in due if not row.customer.email]
        if no_email:
            crm_contact_syncs_drop(customer_ids=no_email, error="no e-mail address")
        rows = [row for row in due if row.customer.email]
        contacts = [
            ContactInput(row.customer_id, row.customer.email, contact_properties(row.customer))
            for row in rows
        ]
        ids = [row.customer_id for row in rows]
        try:
            results = client.upsert_contacts(contacts)
        except ProviderUnavailable as exc:
            attempts = max(row.attempts for row in rows) + 1
            crm_contact_syncs_postpone(
                customer_ids=ids, error=str(exc), retry_at=_retry_at(now, attempts, exc)
            )
            log.warning("crm.contacts_upsert_postponed", contacts=len(ids), error=str(exc))
            break
        except ProviderRejected as exc:
            crm_contact_syncs_drop(customer_ids=ids, error=str(exc))
            continue
        by_email = {result.email: result.contact_id for result in results}
        linked = {
            c.customer_id: by_email[c.email.lower()]
            for c in contacts
            if c.email.lower() in by_email
        }
        synced += crm_contacts_synced(
            provider=PROVIDER,
            contact_ids=linked,
            requested={row.customer_id: row.requested_at for row in rows},
        )
        missing = [i for i in ids if i not in linked]
        if missing:
            crm_contact_syncs_postpone(
                customer_ids=missing,
                error="not in HubSpot's answer",
                retry_at=now + timedelta(seconds=MAX_RETRY_SECONDS),
            )
    return synced


def _contact_id(customer: Customer) -> str | None:
    return (
        CustomerIdentifier.objects.filter(customer=customer, system=PROVIDER)
        .order_by("-pk")
        .values_list("external_id", flat=True)
        .first()
    )


def hubspot_note_add(*, event: DomainEvent, client: HubSpotClient | None = None) -> str | None:
    """A note on the customer's contact for ``event`` (an order, payment, refund or shipment
    fact); the contact is upserted first when the customer has none yet. One note per event:
    a repeated delivery adds nothing. Raises ProviderUnavailable (the Delivery is retried) or
    ProviderRejected (dead). Answers the note's id, or None when there is nothing to note."""
    if event.customer_id is None or CrmNote.objects.filter(event_id=event.pk).exists():
        return None
    customer = Customer.objects.get(pk=event.customer_id)
    client = client or HubSpotClient()
    contact_id = _contact_id(customer)
    if contact_id is None:
        if not customer.email:
            log.info("crm.note_without_contact", customer=customer.pk, event=event.pk)
            return None
        results = client.upsert_contacts(
            [ContactInput(customer.pk, customer.email, contact_properties(customer))]
        )
        if not results:
            raise ProviderUnavailable(f"{PROVIDER}: contact upsert answered no contact.")
        result = results[0]
        crm_contacts_synced(
            provider=PROVIDER,
            contact_ids={customer.pk: result.contact_id},
            requested={customer.pk: timezone.now()},
        )
        contact_id = result.contact_id
    body = f"{get_event_type(event.type).label}: {render_summary(event)}"
    note_id = client.add_note(
        contact_id=contact_id, body=body, at=event.occurred_at, key=f"hubspot-note:{event.pk}"
    )
    CrmNote.objects.get_or_create(
        event_id=event.pk, defaults={"customer": customer, "note_id": note_id}
    )
    return note_id


def hubspot_deal_stage_apply(*, event: DomainEvent, client: HubSpotClient | None = None) -> None:
    """A deal changed stage (``crm.deal_stage_changed``): read its contacts and plan from
    HubSpot and apply the stage to their customers; closed-won activates the plan."""
    payload = event_payload(event)
    assert isinstance(payload, CrmDealStageChangedPayload)
    deal = (client or HubSpotClient()).deal(payload.deal_id)
    crm_deal_apply(
        provider=PROVIDER,
        deal=DealInfo(
            deal_id=payload.deal_id,
            stage=payload.stage,
            plan=deal.plan,
            contact_ids=deal.contact_ids,
        ),
        occurred_at=event.occurred_at,
    )


def hubspot_journal_catch_up(*, client: HubSpotClient | None = None) -> int:
    """Read the Webhooks Journal from the stored offset and store each event in the inbox
    (deduplicated by ``eventId`` with the webhooks already received), page after page; the
    offset moves only with the events it covers, in one transaction. Answers how many events
    were new. An offset older than the journal keeps is logged as an error (changes between it
    and the oldest kept are lost) and reading resumes from the oldest kept."""
    client = client or HubSpotClient()
    state, _ = CrmSyncState.objects.get_or_create(provider=PROVIDER)
    offset = state.journal_offset
    stored = 0
    for _ in range(settings.HUBSPOT_JOURNAL_MAX_PAGES):
        try:
            page = client.journal_read(offset=offset, limit=settings.HUBSPOT_JOURNAL_PAGE_SIZE)
        except JournalOffsetExpired:
            log.error("crm.journal_offset_expired", offset=offset)
            offset = ""
            continue
        with transaction.atomic():
            for element in page.events:
                try:
                    parsed = element_parsed(element)
                except MalformedWebhook as exc:
                    log.warning("crm.journal_event_malformed", error=str(exc))
                    continue
                result = webhook_event_store(
                    provider=SLUG,
                    parsed=parsed,
                    headers={"x-switchboard-source": "hubspot-webhooks-journal"},
                    body=json.dumps(element, separators=(",", ":")),
                )
                stored += int(result.created)
            CrmSyncState.objects.filter(provider=PROVIDER).update(
                journal_offset=page.next_offset, journal_read_at=timezone.now()
            )
        offset = page.next_offset
        if not page.has_more:
            break
    return stored
