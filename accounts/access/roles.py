"""Staff roles are Django groups; this is the design's rights table as permissions.

``sync_roles`` (run by ``manage.py sync_roles`` on deploy and by ``seed_demo``) makes the groups
match this table exactly. SSO maps IdP groups onto these names.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

SUPPORT, SALES, FINANCE, OPS, ADMIN = "support", "sales", "finance", "ops", "admin"
ROLES = (SUPPORT, SALES, FINANCE, OPS, ADMIN)

# Read access every role has: customers, timelines, orders, shipments.
_READ_DOMAIN = [
    "accounts.view_customer",
    "accounts.view_customeridentifier",
    "accounts.view_customernote",
    "integrations.view_domainevent",
    "orders.view_order",
    "orders.view_orderline",
    "payments.view_payment",
    "payments.view_refund",
    "shipping.view_shipment",
    "shipping.view_trackingevent",
    "shipping.view_shipmentalert",
    "notifications.view_notification",
    "notifications.view_emailsuppression",
    "notifications.view_consentrecord",
    "notifications.view_notificationrule",
    "notifications.view_notificationpreference",
]
_ADD_NOTE = ["accounts.add_customernote"]
# Record what a customer asked about messages (channels per category), from their page.
_SET_PREFERENCES = ["notifications.add_notificationpreference"]
# The WhatsApp templates approved for each provider (sent outside WhatsApp's 24-hour window).
_MESSAGE_TEMPLATES = [
    "notifications.view_whatsapptemplate",
    "notifications.add_whatsapptemplate",
    "notifications.change_whatsapptemplate",
    "notifications.delete_whatsapptemplate",
]
# Lift an e-mail suppression once the customer's address works again.
_CLEAR_SUPPRESSION = ["notifications.change_emailsuppression"]
# Resend a message to the customer from the timeline or the message's page.
_RESEND_MESSAGE = ["notifications.resend_notification"]
# Download a customer's data as JSON for their support (data access) request; audited.
_EXPORT_CUSTOMER = ["accounts.export_customer"]
_REQUEST_REFUND = ["payments.add_refund"]
_DECIDE_REFUND = ["payments.approve_refund"]
# Disputes are read; the reconciliation list is worked (resolved with a note).
_RECONCILE = [
    "payments.view_dispute",
    "payments.view_reconciliationexception",
    "payments.change_reconciliationexception",
    # The admin's finance dashboard: volume, refunds, disputes, failure rate and reconciliation
    # status as charts (payments/finance_dashboard.py).
    "payments.view_finance_dashboard",
    # Dispute evidence: assembled (text and documents) and submitted to the provider.
    "payments.view_disputeevidence",
    "payments.add_disputeevidence",
    "payments.change_disputeevidence",
    "payments.submit_disputeevidence",
    "payments.view_evidencedocument",
    "payments.add_evidencedocument",
    "payments.change_evidencedocument",
    "payments.delete_evidencedocument",
]
# What providers and banks say moved (settlement lines, payouts): finance reads them, uploads
# CSV statements and keeps the CSV column mappings they are read with.
_SETTLEMENTS = [
    "payments.view_settlementline",
    "payments.add_settlementline",  # upload a CSV statement
    "payments.view_payout",
    "payments.view_csvcolumnmapping",
    "payments.add_csvcolumnmapping",
    "payments.change_csvcolumnmapping",
    "payments.delete_csvcolumnmapping",
    # Matching (payments/settlements/engine.py): finance keeps the ordered matching rules and
    # reads the matches the engine made.
    "payments.view_matchingrule",
    "payments.add_matchingrule",
    "payments.change_matchingrule",
    "payments.delete_matchingrule",
    "payments.view_settlementmatch",
]
# The accounting journal (accounting/): finance reads the entries and periods, exports the
# journal (generic CSV, Xero, QuickBooks; audited) and closes periods.
_JOURNAL = [
    "accounting.view_journalentry",
    "accounting.view_accountingperiod",
    "accounting.export_journal",
    "accounting.close_accountingperiod",
]
# Webhook inbox, provider calls, breakers and deliveries: finance reads them, ops works them.
_READ_INTEGRATIONS = [
    "integrations.view_taskheartbeat",
    "integrations.view_webhookevent",
    "integrations.view_webhookrejection",
    "integrations.view_providercall",
    "integrations.view_circuitbreaker",
    "integrations.view_delivery",
    "integrations.view_staffalert",
]
_OPERATE_INTEGRATIONS = [
    *_READ_INTEGRATIONS,
    "integrations.change_webhookevent",  # replay
    "integrations.change_delivery",  # retry
    "integrations.change_circuitbreaker",  # reset
    # The admin's ops page: the /metrics figures as charts (integrations/ops_admin.py).
    "integrations.view_ops_page",
    # Outbound webhooks to the business's own systems: ops run the endpoints.
    "integrations.view_webhookendpoint",
    "integrations.add_webhookendpoint",
    "integrations.change_webhookendpoint",  # test event, rotate secret, recover
    "integrations.view_webhookmessage",
    "integrations.change_webhookmessage",  # resend
]
# Ops work the shipment alerts list (late parcels, carrier exceptions): mark them handled.
_WORK_SHIPMENT_ALERTS = ["shipping.change_shipmentalert"]

# What the customer is told on which channels (notification rules): ops edit them.
_EDIT_NOTIFICATION_RULES = [
    "notifications.add_notificationrule",
    "notifications.change_notificationrule",
]

# Labels bought and voided from an order's page, and the table rates quotes fall back on.
_SHIP = [
    "shipping.buy_label",
    "shipping.view_shippingquote",
    "shipping.view_tablerate",
    "shipping.add_tablerate",
    "shipping.change_tablerate",
    "shipping.delete_tablerate",
]

# The product's tracking plan (event names, property types) and the quarantine of usage events it
# refused: ops keep the plan and release events once it allows them.
_KEEP_TRACKING_PLAN = [
    "usage.view_trackedevent",
    "usage.add_trackedevent",
    "usage.change_trackedevent",
    "usage.delete_trackedevent",
    "usage.view_trackedproperty",
    "usage.add_trackedproperty",
    "usage.change_trackedproperty",
    "usage.delete_trackedproperty",
    "usage.view_quarantinedusageevent",
    "usage.change_quarantinedusageevent",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    SUPPORT: [
        *_READ_DOMAIN,
        *_ADD_NOTE,
        *_SET_PREFERENCES,
        *_REQUEST_REFUND,
        *_CLEAR_SUPPRESSION,
        *_RESEND_MESSAGE,
        *_EXPORT_CUSTOMER,
    ],
    SALES: [*_READ_DOMAIN, *_ADD_NOTE, *_SET_PREFERENCES],
    FINANCE: [
        *_READ_DOMAIN,
        *_ADD_NOTE,
        *_SET_PREFERENCES,
        *_REQUEST_REFUND,
        *_CLEAR_SUPPRESSION,
        *_RESEND_MESSAGE,
        *_EXPORT_CUSTOMER,
        *_DECIDE_REFUND,
        *_RECONCILE,
        *_SETTLEMENTS,
        *_JOURNAL,
        *_READ_INTEGRATIONS,
    ],
    OPS: [
        *_READ_DOMAIN,
        *_OPERATE_INTEGRATIONS,
        *_CLEAR_SUPPRESSION,
        *_WORK_SHIPMENT_ALERTS,
        *_SHIP,
        *_KEEP_TRACKING_PLAN,
        *_EDIT_NOTIFICATION_RULES,
        *_MESSAGE_TEMPLATES,
    ],
}


def _permissions(names: list[str]) -> list[Permission]:
    query = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query).select_related("content_type"))
    missing = set(names) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"Unknown permissions in the roles table: {sorted(missing)}")
    return found


@transaction.atomic
def sync_roles() -> dict[str, int]:
    """Create or update one group per role with exactly its permissions. Idempotent."""
    counts: dict[str, int] = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        if role == ADMIN:
            permissions = list(Permission.objects.all())
        else:
            permissions = _permissions(ROLE_PERMISSIONS[role])
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts
