"""Refusals of staff access (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import SwitchboardError


class ApiKeyNotAllowed(SwitchboardError):
    """An API key the rules refuse: an unknown scope or an expiry in the past."""

    code = "api_key_not_allowed"
    title = "API key not allowed"
