"""Filters for the customer page header (``templates/admin/accounts/customer/header.html``):
the summary is JSON-ready data (ISO times, state codes), shown here for people."""

from __future__ import annotations

from datetime import datetime

from django import template

register = template.Library()

_CONSENT_LABELS = {"opted_in": "Opted in", "opted_out": "Opted out", "unknown": "Not given"}
_BAND_LABELS = {"good": "Good", "watch": "Watch", "at_risk": "At risk"}


@register.filter
def iso_time(value: str | None) -> datetime | None:
    """An ISO 8601 string of the summary as a datetime for ``|date`` (None stays None)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@register.filter
def consent_label(state: str) -> str:
    return _CONSENT_LABELS.get(state, state)


@register.filter
def health_band_label(band: str) -> str:
    return _BAND_LABELS.get(band, band)


@register.filter
def status_label(status: str) -> str:
    """``out_for_delivery`` as ``Out for delivery``."""
    return str(status).replace("_", " ").capitalize()
