"""The chart of accounts the journal posts to: roles -> the business's account code and name
(settings ACCOUNTING_ACCOUNTS, config/settings/accounting.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from accounting.exceptions import UnknownAccount

PROVIDER_CLEARING = "provider_clearing"
BANK = "bank"
REVENUE = "revenue"
PROVIDER_FEES = "provider_fees"
REFUNDS = "refunds"
SPLIT_PAYABLE = "split_payable"
CHARGEBACKS = "chargebacks"
CHARGEBACK_FEES = "chargeback_fees"
WRITE_OFFS = "write_offs"
ROLES = (
    PROVIDER_CLEARING,
    BANK,
    REVENUE,
    PROVIDER_FEES,
    REFUNDS,
    SPLIT_PAYABLE,
    CHARGEBACKS,
    CHARGEBACK_FEES,
    WRITE_OFFS,
)


@dataclass(frozen=True)
class Account:
    role: str
    code: str
    name: str


def account(role: str) -> Account:
    """The account of ``role``; UnknownAccount when the chart has none."""
    found = settings.ACCOUNTING_ACCOUNTS.get(role)
    if not isinstance(found, dict) or not found.get("code"):
        raise UnknownAccount(f"The chart of accounts has no {role!r} account.")
    return Account(role=role, code=str(found["code"]), name=str(found.get("name") or role))


def account_by_code(code: str) -> Account | None:
    """The account whose code is ``code`` (a write-off names its account by code)."""
    for role, found in settings.ACCOUNTING_ACCOUNTS.items():
        if isinstance(found, dict) and str(found.get("code")) == code:
            return Account(role=role, code=code, name=str(found.get("name") or role))
    return None
