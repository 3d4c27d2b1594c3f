"""Writes of the CRM sync: pending contact upserts (coalesced), contacts linked, CRM-owned
properties applied under a per-property watermark, deal stages and won deals.

Nothing here calls a provider: the workflows of each provider package call these around their
HTTP calls (``accounts/crm/hubspot/workflows.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.crm.base import CRM_OWNED_FIELDS, CrmChangeFact, DealInfo
from accounts.customers.services import customer_plan_activate
from accounts.models import CrmContactSync, CrmRecord, Customer, CustomerIdentifier
from integrations.events import record_event

log = structlog.get_logger(__name__)

CLOSED_WON = "closedwon"
FIELD_PREFIX = {"owner": "owner_id"}
"""CrmRecord column of a CRM-owned field, where it differs from the field's name."""


def crm_contact_sync_request(*, customer_id: int, now: datetime | None = None) -> bool:
    """Ask for ``customer_id``'s contact to be upserted. Coalesced: while a request is pending,
    more changes only move ``requested_at`` (one upsert carries them all, due
    HUBSPOT_COALESCE_SECONDS after the first). A customer without an e-mail is not sent (the
    upsert is by e-mail). Returns True when a request is pending afterwards. Idempotent."""
    now = now or timezone.now()
    customer = Customer.objects.filter(pk=customer_id).only("email").first()
    if customer is None or not customer.email:
        return False
    with transaction.atomic():
        updated = CrmContactSync.objects.filter(customer_id=customer_id).update(requested_at=now)
        if not updated:
            try:
                with transaction.atomic():
                    CrmContactSync.objects.create(
                        customer_id=customer_id,
                        requested_at=now,
                        due_at=now + timedelta(seconds=settings.HUBSPOT_COALESCE_SECONDS),
                    )
            except IntegrityError:  # created concurrently: that request carries this change
                CrmContactSync.objects.filter(customer_id=customer_id).update(requested_at=now)
    return True


def crm_contact_syncs_due(*, now: datetime, limit: int) -> list[CrmContactSync]:
    """Pending upserts due by ``now``, oldest first, with their customers."""
    return list(
        CrmContactSync.objects.filter(due_at__lte=now)
        .select_related("customer")
        .order_by("due_at", "pk")[:limit]
    )


def crm_contacts_synced(
    *,
    provider: str,
    contact_ids: Mapping[int, str],
    requested: Mapping[int, datetime],
    now: datetime | None = None,
) -> int:
    """Record that the CRM holds these customers' contacts (customer id -> contact id): the
    contact id becomes a CustomerIdentifier and the CrmRecord's ``contact_id`` (with a
    ``crm.contact_synced`` event when it is new to the customer); each pending request is
    done unless the customer changed again after ``requested`` (then it stays for the next
    upsert). Returns how many were linked."""
    now = now or timezone.now()
    linked = 0
    for customer_id, contact_id in contact_ids.items():
        with transaction.atomic():
            customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
            if customer is None:
                continue
            identifier, created = CustomerIdentifier.objects.get_or_create(
                system=provider, external_id=contact_id, defaults={"customer": customer}
            )
            if identifier.customer_id != customer.pk:
                log.warning(
                    "crm.contact_of_another_customer",
                    provider=provider,
                    contact_id=contact_id,
                    customer=customer.pk,
                    other_customer=identifier.customer_id,
                )
                continue
            record, _ = CrmRecord.objects.get_or_create(
                customer=customer, defaults={"provider": provider, "contact_id": contact_id}
            )
            is_new = created or record.contact_id != contact_id
            record.contact_id = contact_id
            record.synced_at = now
            record.save(update_fields=["contact_id", "synced_at"])
            if is_new:
                record_event(
                    type="crm.contact_synced",
                    customer=customer,
                    subject=customer,
                    actor_label=provider,
                    data={"provider": provider, "contact_id": contact_id},
                )
            CrmContactSync.objects.filter(
                customer_id=customer_id, requested_at__lte=requested.get(customer_id, now)
            ).delete()
            linked += 1
    return linked


def crm_contact_syncs_postpone(
    *, customer_ids: Sequence[int], error: str, retry_at: datetime
) -> int:
    """The CRM could not take these upserts now (outage, rate limit): keep them pending, due
    again at ``retry_at``, with the error. Nothing is dropped."""
    from django.db.models import F

    return CrmContactSync.objects.filter(customer_id__in=customer_ids).update(
        attempts=F("attempts") + 1, last_error=error[:500], due_at=retry_at
    )


def crm_contact_syncs_drop(*, customer_ids: Sequence[int], error: str) -> int:
    """The CRM refused these contacts for good (a 4xx on the batch): log and forget them; the
    customer's next change asks again."""
    log.warning("crm.contact_upsert_refused", customers=list(customer_ids), error=error[:500])
    deleted, _ = CrmContactSync.objects.filter(customer_id__in=customer_ids).delete()
    return deleted


def _customer_of_contact(provider: str, contact_id: str) -> Customer | None:
    identifier = (
        CustomerIdentifier.objects.filter(system=provider, external_id=contact_id)
        .select_related("customer")
        .first()
    )
    return identifier.customer if identifier is not None else None


def _apply_field(
    *, customer: Customer, fact: CrmChangeFact, event_type: str = "crm.contact_updated"
) -> CrmRecord | None:
    """Set one CRM-owned field on the customer's record unless a newer change already did;
    records ``crm.contact_updated``. Call inside a transaction."""
    record, _ = CrmRecord.objects.select_for_update().get_or_create(
        customer=customer, defaults={"provider": fact.provider, "contact_id": fact.contact_id}
    )
    stamp = round(fact.occurred_at.timestamp() * 1000)
    seen = record.watermarks.get(fact.field)
    if isinstance(seen, int) and seen >= stamp:
        log.info("crm.change_older_than_applied", field=fact.field, contact_id=fact.contact_id)
        return None
    column = FIELD_PREFIX.get(fact.field, fact.field)
    previous = str(getattr(record, column))
    setattr(record, column, fact.value[:100])
    record.watermarks = {**record.watermarks, fact.field: stamp}
    record.synced_at = timezone.now()
    record.save(update_fields=[column, "watermarks", "synced_at"])
    if previous != fact.value:
        record_event(
            type=event_type,
            customer=customer,
            subject=customer,
            actor_label=fact.provider,
            occurred_at=fact.occurred_at,
            data={
                "provider": fact.provider,
                "contact_id": fact.contact_id,
                "field": fact.field,
                "value": fact.value[:100],
                "previous": previous,
            },
        )
    return record


def crm_change_apply(*, fact: CrmChangeFact) -> CrmRecord | None:
    """Apply a change the CRM made to one of its own properties (owner, lifecycle stage, deal
    stage) to the customer whose contact it is. Idempotent and order-proof: a change older
    than the one applied to that property is ignored. Returns the record changed, or None (no
    such customer, an older change, or a field the CRM does not own)."""
    if fact.field not in CRM_OWNED_FIELDS:
        log.warning("crm.change_to_switchboard_owned_field", field=fact.field)
        return None
    with transaction.atomic():
        customer = _customer_of_contact(fact.provider, fact.contact_id)
        if customer is None:
            log.info("crm.change_for_unknown_contact", contact_id=fact.contact_id)
            return None
        return _apply_field(customer=customer, fact=fact)


def crm_deal_stage_record(
    *, provider: str, deal_id: str, stage: str, occurred_at: datetime
) -> None:
    """Note that a deal changed stage; its contacts are not in the webhook, so a subscriber
    reads them from the CRM and applies the stage (``crm_deal_apply``)."""
    with transaction.atomic():
        record_event(
            type="crm.deal_stage_changed",
            actor_label=provider,
            occurred_at=occurred_at,
            data={"provider": provider, "deal_id": deal_id, "stage": stage[:100]},
        )


def crm_deal_apply(*, provider: str, deal: DealInfo, occurred_at: datetime) -> list[Customer]:
    """Apply a deal's stage to each customer whose contact is associated to it; a deal at
    closed-won records ``crm.deal_won`` and activates the customer's plan
    (``customer_plan_activate``, which announces ``customer.plan_activated``). Idempotent."""
    touched: list[Customer] = []
    for contact_id in deal.contact_ids:
        with transaction.atomic():
            customer = _customer_of_contact(provider, contact_id)
            if customer is None:
                log.info("crm.deal_for_unknown_contact", contact_id=contact_id, deal=deal.deal_id)
                continue
            fact = CrmChangeFact(provider, contact_id, "deal_stage", deal.stage, occurred_at)
            _apply_field(customer=customer, fact=fact)
            if deal.stage == CLOSED_WON:
                activated = customer_plan_activate(
                    customer=customer,
                    plan=deal.plan or "default",
                    activated_at=occurred_at,
                    source=f"{provider} deal {deal.deal_id}",
                )
                if activated:
                    record_event(
                        type="crm.deal_won",
                        customer=customer,
                        subject=customer,
                        actor_label=provider,
                        occurred_at=occurred_at,
                        data={"provider": provider, "deal_id": deal.deal_id, "plan": deal.plan},
                    )
            touched.append(customer)
    return touched
