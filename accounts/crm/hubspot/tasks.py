"""Periodic HubSpot jobs (registered in ``integrations.schedules``); no-ops while disabled."""

from __future__ import annotations

from django.conf import settings

from accounts.crm.hubspot.workflows import hubspot_contacts_flush, hubspot_journal_catch_up


def flush_contacts() -> int:
    return hubspot_contacts_flush() if settings.HUBSPOT_ENABLED else 0


def journal_catch_up() -> int:
    return hubspot_journal_catch_up() if settings.HUBSPOT_ENABLED else 0
