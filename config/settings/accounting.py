"""The accounting journal (accounting/, docs/accounting.md): the chart of accounts the journal
posts to and the accounting systems' import formats."""

from __future__ import annotations

from config.settings.env import env

# Each role the journal posts to -> the account in the business's chart: its code (Xero's
# AccountCode, the generic CSV) and name (QuickBooks matches accounts by name). Override some
# or all roles with ACCOUNTING_ACCOUNTS as JSON, e.g.
# {"bank": {"code": "090", "name": "Business Bank Account"}}; roles not given keep the default.
DEFAULT_ACCOUNTING_ACCOUNTS: dict[str, dict[str, str]] = {
    "provider_clearing": {"code": "1150", "name": "Payment provider clearing"},
    "bank": {"code": "1100", "name": "Bank"},
    "revenue": {"code": "4000", "name": "Sales"},
    "provider_fees": {"code": "6100", "name": "Payment provider fees"},
    "refunds": {"code": "4100", "name": "Sales refunds"},
    "split_payable": {"code": "2150", "name": "Split recipients payable"},
    "chargebacks": {"code": "6200", "name": "Chargeback losses"},
    "chargeback_fees": {"code": "6210", "name": "Chargeback fees"},
    "write_offs": {"code": "6900", "name": "Reconciliation write-offs"},
}
ACCOUNTING_ACCOUNTS: dict[str, dict[str, str]] = {
    **DEFAULT_ACCOUNTING_ACCOUNTS,
    **env.json("ACCOUNTING_ACCOUNTS", default={}),
}
# The accounts a reconciliation write-off may be booked to, (code, name): the chart's roles
# named here, so a write-off always posts to an account the journal knows.
WRITE_OFF_ACCOUNT_ROLES: list[str] = env.list(
    "WRITE_OFF_ACCOUNT_ROLES", default=["write_offs", "provider_fees", "chargeback_fees"]
)
WRITE_OFF_ACCOUNTS: list[tuple[str, str]] = [
    (ACCOUNTING_ACCOUNTS[role]["code"], ACCOUNTING_ACCOUNTS[role]["name"])
    for role in WRITE_OFF_ACCOUNT_ROLES
]
# Xero's manual journal import needs a tax rate name on every line, exactly as the
# organisation's tax settings spell it (money movements carry no tax of their own).
ACCOUNTING_XERO_TAX_RATE = env.str("ACCOUNTING_XERO_TAX_RATE", default="Tax Exempt")
# QuickBooks Online reads JournalDate in the company's region format (US: MM/DD/YYYY).
ACCOUNTING_QUICKBOOKS_DATE_FORMAT = env.str("ACCOUNTING_QUICKBOOKS_DATE_FORMAT", default="%m/%d/%Y")
