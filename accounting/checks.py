"""System check: the chart of accounts names every role the journal posts to."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from accounting.chart import ROLES


@register()
def check_chart_of_accounts(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    chart = getattr(settings, "ACCOUNTING_ACCOUNTS", {})
    errors = []
    for role in ROLES:
        account = chart.get(role)
        if not (
            isinstance(account, dict)
            and str(account.get("code", "")).strip()
            and str(account.get("name", "")).strip()
        ):
            errors.append(
                Error(
                    f"ACCOUNTING_ACCOUNTS has no code and name for the {role!r} account.",
                    hint=f'Give it as JSON: {{"{role}": {{"code": "...", "name": "..."}}}}.',
                    id="accounting.E001",
                )
            )
    return errors
