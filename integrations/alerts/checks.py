"""Start-up check of the Slack settings (tag ``providers``, like the provider checks): enabled
Slack needs a webhook URL or a bot token in the right shape, and SLACK_CHANNELS names known
alert kinds. Messages name the variable, never its value."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from integrations.models.alerts import StaffAlertKind

MISSING = "alerts.E001"
MALFORMED = "alerts.E002"


@checks.register("providers")
def slack_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not getattr(settings, "SLACK_ENABLED", False):
        return []
    errors: list[checks.CheckMessage] = []
    url = str(settings.SLACK_WEBHOOK_URL or "")
    token = str(settings.SLACK_BOT_TOKEN or "")
    if not url and not token:
        errors.append(
            checks.Error(
                "SLACK_ENABLED is on but neither SLACK_WEBHOOK_URL nor SLACK_BOT_TOKEN is set.",
                hint="Set one of them, or SLACK_ENABLED=false.",
                id=MISSING,
            )
        )
    if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        errors.append(checks.Error("SLACK_WEBHOOK_URL must be an https:// URL.", id=MALFORMED))
    if token and (not token.startswith("xoxb-") or any(c.isspace() for c in token)):
        errors.append(checks.Error("SLACK_BOT_TOKEN must be a bot token (xoxb-...).", id=MALFORMED))
    unknown = sorted(set(settings.SLACK_CHANNELS or {}) - set(StaffAlertKind.values))
    if unknown:
        errors.append(
            checks.Error(
                f"SLACK_CHANNELS names unknown alert kinds: {', '.join(unknown)}.",
                hint=f"Kinds: {', '.join(StaffAlertKind.values)}.",
                id=MALFORMED,
            )
        )
    return errors
