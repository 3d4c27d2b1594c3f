"""The daily settlement import (registered by ``migrate``, integrations/schedules.py)."""

from __future__ import annotations

import logging

from django.conf import settings

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from payments.settlements.engine import settlements_match
from payments.settlements.workflows import ENABLED_SETTING, settlements_import

logger = logging.getLogger(__name__)


def import_daily() -> dict[str, str]:
    """Import every enabled provider's new settlement lines and payouts, then match them
    (``outcome["matching"]``). A provider that fails keeps its cursor (the next run continues)
    and does not stop the others, nor the matching of what is stored."""
    outcome: dict[str, str] = {}
    for provider, flag in ENABLED_SETTING.items():
        if not getattr(settings, flag, False):
            continue
        try:
            result = settlements_import(provider)
        except (ProviderUnavailable, ProviderRejected) as exc:
            logger.warning("settlement import %s failed: %s", provider, type(exc).__name__)
            outcome[provider] = f"failed: {type(exc).__name__}"
            continue
        outcome[provider] = (
            f"{result.lines_created} lines, {result.payouts_created} payouts new "
            f"of {result.lines_seen} / {result.payouts_seen} seen"
        )
    outcome["matching"] = settlements_match().summary()
    return outcome
