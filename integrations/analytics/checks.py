"""System checks of the analytics settings (tag ``analytics``): a sink on without a PII hash
key, and PII rules that name an unknown action. Messages never show a value."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from integrations.analytics.pii import Rule
from integrations.analytics.sinks import SINKS

MIN_HASH_KEY_LENGTH = 32


@checks.register("analytics")
def check_analytics_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    enabled = [name for name, sink in SINKS.items() if sink.enabled()]
    if enabled and len(settings.ANALYTICS_PII_HASH_KEY) < MIN_HASH_KEY_LENGTH:
        problems.append(
            checks.Error(
                f"Analytics sinks are on ({', '.join(enabled)}) but ANALYTICS_PII_HASH_KEY is "
                f"unset or shorter than {MIN_HASH_KEY_LENGTH} characters.",
                hint="Set ANALYTICS_PII_HASH_KEY to a random secret (it keys the PII hashes).",
                id="analytics.E001",
            )
        )
    rules = settings.ANALYTICS_PII_RULES
    valid = {rule.value for rule in Rule}
    if not isinstance(rules, dict) or not all(
        isinstance(fields, dict) and all(action in valid for action in fields.values())
        for fields in rules.values()
    ):
        problems.append(
            checks.Error(
                "ANALYTICS_PII_RULES must map event types to {field: drop|hash|keep}.",
                id="analytics.E002",
            )
        )
    return problems
