"""The customer summary's ``crm`` and ``plan`` parts (the customer page header and the context
API show them; shared contract of issue 14)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from accounts.customers.export import export_value
from accounts.models import CrmRecord, Customer


def record_url(contact_id: str) -> str | None:
    """The contact's record in the HubSpot app, when HUBSPOT_PORTAL_ID is set."""
    portal = str(settings.HUBSPOT_PORTAL_ID or "")
    if not portal or not contact_id:
        return None
    return f"{settings.HUBSPOT_APP_URL.rstrip('/')}/contacts/{portal}/record/0-1/{contact_id}"


def crm_summary(customer: Customer) -> dict[str, Any] | None:
    """Owner (name or e-mail from HUBSPOT_OWNER_NAMES, else the owner id), lifecycle and deal
    stage, the record's link and when it was last synced; None when not linked. No query when
    the customer was read with ``select_related("crm_record")``, else one."""
    try:
        record = customer.crm_record
    except CrmRecord.DoesNotExist:
        return None
    names: dict[str, str] = dict(settings.HUBSPOT_OWNER_NAMES or {})
    return {
        "owner": names.get(record.owner_id) or record.owner_id or None,
        "lifecycle_stage": record.lifecycle_stage or None,
        "deal_stage": record.deal_stage or None,
        "record_url": record_url(record.contact_id),
        "synced_at": export_value(record.synced_at) if record.synced_at else None,
    }


def plan_summary(customer: Customer) -> dict[str, Any]:
    """The plan a won deal activated, and when. No query."""
    return {
        "name": customer.plan_name or None,
        "activated_at": export_value(customer.plan_activated_at)
        if customer.plan_activated_at
        else None,
    }
