"""Refusals of the usage API (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import SwitchboardError


class UsageBatchMalformed(SwitchboardError):
    """The batch is not ``{"events": [...]}`` of objects with an ``id``: nothing was stored."""

    code = "usage_batch_malformed"
    http_status = 400
    title = "Malformed usage batch"


class UsageBatchTooManyEvents(UsageBatchMalformed):
    """More events in one batch than ``usage.services.MAX_BATCH``: nothing was stored."""

    code = "usage_batch_too_many_events"
    title = "Too many events in one batch"


class UsageBatchTooLarge(SwitchboardError):
    """The request body is larger than the usage endpoint reads."""

    code = "usage_body_too_large"
    http_status = 413
    title = "Usage batch too large"
