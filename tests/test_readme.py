"""The README's staff-access facts match the code (issue 11's README paragraph): what each role
sees against accounts/access/roles.py, the dual-approval default against the settings, and the
local IdP's port against the script that starts it. A change on either side without the other
fails here."""

from __future__ import annotations

import re
from pathlib import Path

from accounts.access.roles import ADMIN, ROLE_PERMISSIONS, ROLES, SUPPORT
from integrations.money import format_money

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# Read by every role; each named in support's row.
READ_SCREENS = {
    "accounts.view_customer": "customers",
    "integrations.view_domainevent": "timelines",
    "orders.view_order": "orders",
    "payments.view_payment": "payments",
    "payments.view_refund": "refunds",
    "shipping.view_shipment": "shipments",
    "notifications.view_notification": "notifications",
    "notifications.view_emailsuppression": "e-mail suppressions",
    "notifications.view_consentrecord": "consent ledger",
    "notifications.view_notificationrule": "notification rules",
    "notifications.view_notificationpreference": "message preferences",
    "shipping.view_shipmentalert": "shipment alerts",
}
# Shown inside the screens above (identifiers and notes on the customer, lines on the order,
# tracking on the shipment).
PART_OF_A_SCREEN = {
    "accounts.view_customeridentifier",
    "accounts.view_customernote",
    "orders.view_orderline",
    "shipping.view_trackingevent",
}
# A right some roles have: a role's row says the phrase exactly when the role has it.
RIGHTS = {
    "accounts.add_customernote": "adds notes",
    "accounts.export_customer": "exports a customer's data",
    "payments.add_refund": "requests refunds",
    "payments.approve_refund": "approves or rejects refunds",
    "payments.view_dispute": "disputes",
    "payments.view_reconciliationexception": "reconciliation list",
    "payments.change_reconciliationexception": "reconciliation list (works it)",
    "payments.view_finance_dashboard": "the finance dashboard",
    "payments.view_settlementline": "settlement lines",
    "payments.add_settlementline": "uploads CSV statements",
    "payments.view_payout": "payouts imported",
    "accounting.view_journalentry": "the accounting journal",
    "accounting.view_accountingperiod": "closes periods",
    "accounting.export_journal": "exports CSV / Xero / QuickBooks",
    "accounting.close_accountingperiod": "closes periods",
    "payments.view_csvcolumnmapping": "CSV column mappings",
    "payments.add_csvcolumnmapping": "CSV column mappings it keeps",
    "payments.change_csvcolumnmapping": "CSV column mappings it keeps",
    "payments.delete_csvcolumnmapping": "CSV column mappings it keeps",
    "payments.view_disputeevidence": "dispute evidence",
    "payments.add_disputeevidence": "assembles dispute evidence",
    "payments.change_disputeevidence": "assembles dispute evidence",
    "payments.submit_disputeevidence": "submits it to the provider",
    "payments.view_evidencedocument": "evidence documents",
    "payments.add_evidencedocument": "evidence documents",
    "payments.change_evidencedocument": "evidence documents",
    "payments.delete_evidencedocument": "evidence documents",
    "payments.view_matchingrule": "matching rules it keeps",
    "payments.add_matchingrule": "matching rules it keeps",
    "payments.change_matchingrule": "matching rules it keeps",
    "payments.delete_matchingrule": "matching rules it keeps",
    "payments.view_settlementmatch": "the settlement matches",
    "integrations.view_webhookevent": "integration screens",
    "integrations.view_webhookrejection": "integration screens",
    "integrations.view_providercall": "integration screens",
    "integrations.view_circuitbreaker": "integration screens",
    "integrations.view_delivery": "integration screens",
    "integrations.view_taskheartbeat": "integration screens",
    "integrations.view_staffalert": "staff alerts",
    "integrations.change_webhookevent": "webhook inbox (replay)",
    "integrations.change_delivery": "deliveries (retry)",
    "integrations.change_circuitbreaker": "circuit breakers (reset)",
    "integrations.view_ops_page": "the ops page",
    "integrations.view_webhookendpoint": "outbound webhook endpoints",
    "integrations.add_webhookendpoint": "adds endpoints",
    "integrations.change_webhookendpoint": "rotates the secret",
    "integrations.view_webhookmessage": "outbound webhook endpoints and messages",
    "integrations.change_webhookmessage": "resends one",
    "notifications.change_emailsuppression": "clears e-mail suppressions",
    "notifications.resend_notification": "resends messages",
    "notifications.add_notificationrule": "edits the notification rules",
    "notifications.change_notificationrule": "edits the notification rules",
    "notifications.add_notificationpreference": "sets message preferences",
    "notifications.view_whatsapptemplate": "WhatsApp templates",
    "notifications.add_whatsapptemplate": "WhatsApp templates",
    "notifications.change_whatsapptemplate": "WhatsApp templates",
    "notifications.delete_whatsapptemplate": "WhatsApp templates",
    "shipping.change_shipmentalert": "shipment alerts (marks them handled)",
    "shipping.buy_label": "buys and voids labels",
    "shipping.view_shippingquote": "buys and voids labels",
    "shipping.view_tablerate": "table rates",
    "shipping.add_tablerate": "table rates",
    "shipping.change_tablerate": "table rates",
    "shipping.delete_tablerate": "table rates",
    "usage.view_trackedevent": "tracking plan",
    "usage.add_trackedevent": "tracking plan",
    "usage.change_trackedevent": "tracking plan",
    "usage.delete_trackedevent": "tracking plan",
    "usage.view_trackedproperty": "tracking plan",
    "usage.add_trackedproperty": "tracking plan",
    "usage.change_trackedproperty": "tracking plan",
    "usage.delete_trackedproperty": "tracking plan",
    "usage.view_quarantinedusageevent": "usage quarantine",
    "usage.change_quarantinedusageevent": "usage quarantine (releases events)",
}
# The role that works the integration screens names each of them.
INTEGRATION_SCREENS = [
    "webhook inbox",
    "rejections",
    "provider calls",
    "circuit breakers",
    "deliveries",
    "task heartbeats",
]


def _role_rows() -> dict[str, str]:
    """``role`` -> what its row of the demo-users table says it sees."""
    header = "| user | role | what it sees |"
    assert header in README
    lines = README.split(header, 1)[1].split("\n\n", 1)[0].splitlines()
    rows = [re.fullmatch(r"\| `(\w+)` \| (\w+) \| (.+) \|", line) for line in lines[2:]]
    table = {}
    for row in rows:
        assert row is not None, lines
        user, role, sees = row.groups()
        assert user == role, f"the demo user {user} is listed with the role {role}"
        table[role] = sees
    return table


def _says(role: str, rows: dict[str, str]) -> str:
    """The row, with support's when it claims "support's screens and rights"."""
    text = rows[role]
    if role != SUPPORT and "support's screens and rights" in text:
        text = f"{text}; {rows[SUPPORT]}"
    return text


def test_the_readme_lists_every_role_once_in_order():
    assert list(_role_rows()) == list(ROLES)
    assert _role_rows()[ADMIN].startswith("everything")


def test_every_permission_of_a_role_is_accounted_for_in_this_test():
    named = set(READ_SCREENS) | PART_OF_A_SCREEN | set(RIGHTS)
    for role, permissions in ROLE_PERMISSIONS.items():
        assert set(permissions) <= named, (
            f"{role} has {sorted(set(permissions) - named)}: say in the README's role table "
            "what it lets the role see or do, then map it here"
        )


def test_each_roles_row_says_what_accounts_roles_gives_it():
    rows = _role_rows()
    for screen in READ_SCREENS.values():
        assert screen in rows[SUPPORT], screen
    for role, permissions in ROLE_PERMISSIONS.items():
        assert set(READ_SCREENS) | PART_OF_A_SCREEN <= set(permissions), role
        says = _says(role, rows)
        for permission, phrase in RIGHTS.items():
            has = permission in permissions
            assert (phrase in says) == has, (
                f"README: the {role} row {'omits' if has else 'claims'} {phrase!r} "
                f"({permission} is {'in' if has else 'not in'} accounts/access/roles.py)"
            )
        if "integrations.change_webhookevent" in permissions:
            for screen in INTEGRATION_SCREENS:
                assert screen in says, (role, screen)


def test_the_dual_approval_default_is_the_settings_default():
    base = (ROOT / "config" / "settings" / "base.py").read_text()
    setting = re.search(
        r'REFUND_DUAL_APPROVAL_THRESHOLD = env\.int\("REFUND_DUAL_APPROVAL_THRESHOLD", '
        r"default=([\d_]+)\)",
        base,
    )
    assert setting is not None
    default = int(setting.group(1))
    said = re.search(
        r"`REFUND_DUAL_APPROVAL_THRESHOLD`, default (\d+) minor units = (R\$ [\d.,]+),", README
    )
    assert said is not None, "the README's role table no longer gives the default"
    assert int(said.group(1)) == default
    assert said.group(2) == format_money(default, "BRL")


def test_the_idp_port_and_node_release_are_documented():
    script = (ROOT / "tests" / "idp" / "oidc" / "with-idp.sh").read_text()
    port = re.search(r'port="\$\{IDP_PORT:-(\d+)\}"', script)
    assert port is not None
    assert f"`127.0.0.1:$IDP_PORT` (default {port.group(1)};" in README
    assert "set `IDP_PORT` when that port is taken" in README
    assert "Node.js LTS release with npm" in README
