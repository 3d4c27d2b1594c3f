"""The design's rights table (DESIGN.md, "Access"), walked over every admin screen, admin action,
custom admin URL and API endpoint, as each role and as anonymous.

Everything is enumerated at runtime: registering a new ModelAdmin, action, custom admin URL or
``/api/v1/`` endpoint without adding its rule to ``RULES`` fails ``test_every_item_has_a_rule``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone

from accounting.models import AccountingPeriod
from accounting.services import credit, debit, journal_post
from accounts.access.api_keys import api_key_create
from accounts.access.roles import ADMIN, FINANCE, OPS, ROLES, SALES, SUPPORT, sync_roles
from accounts.customers.services import customer_note_add
from accounts.models import AuditLogEntry, User
from config import api_urls
from integrations.models import (
    CircuitBreaker,
    Delivery,
    DomainEvent,
    ProviderCall,
    ProviderCredential,
    StaffAlert,
    TaskHeartbeat,
    WebhookEvent,
    WebhookMessage,
    WebhookRejection,
)
from integrations.webhooks_out.services import endpoint_create
from notifications.consent.services import consent_opt_out
from notifications.models import EmailSuppression, Notification, NotificationRule
from notifications.policy.models import WhatsAppTemplate
from notifications.policy.services import notification_preferences_set
from payments.evidence.models import DisputeEvidence, EvidenceDocument
from payments.models import Dispute, ReconciliationException, RefundReason
from payments.services import refund_request
from payments.settlements.models import (
    CsvColumnMapping,
    MatchingRule,
    Payout,
    SettlementLine,
    SettlementMatch,
)
from shipping.models import AlertReason, ShipmentAlert, ShippingQuote, TableRate, TrackingEvent
from shipping.services import shipment_create
from tests.factories import make_customer, make_order, make_paid_payment, make_staff
from usage.models import QuarantinedUsageEvent, TrackedEvent

ANONYMOUS = "anonymous"
NO_ROLE = "staff without a role"  # an SSO user none of whose IdP groups maps: no access
Roles = frozenset[str]

# Who holds each right of the design's table ------------------------------------------------
EVERYONE: Roles = frozenset(ROLES)
NOBODY: Roles = frozenset()
ADMIN_ONLY: Roles = frozenset({ADMIN})
NOTE_WRITERS: Roles = frozenset({SUPPORT, SALES, FINANCE, ADMIN})  # staff notes: add
REFUND_REQUESTERS: Roles = frozenset({SUPPORT, FINANCE, ADMIN})  # refund request: create
FINANCE_ROLES: Roles = frozenset({FINANCE, ADMIN})  # decide refunds, reconciliation
INTEGRATION_READERS: Roles = frozenset({FINANCE, OPS, ADMIN})  # inbox, calls, deliveries: read
INTEGRATION_OPERATORS: Roles = frozenset({OPS, ADMIN})  # replay, retry, reset
SUPPRESSION_CLEARERS: Roles = frozenset({SUPPORT, FINANCE, OPS, ADMIN})  # e-mail suppression: clear
RESENDERS: Roles = frozenset({SUPPORT, FINANCE, ADMIN})  # resend a message to the customer
LABEL_BUYERS: Roles = frozenset({OPS, ADMIN})  # buy and void labels, quote, table rates
PLAN_KEEPERS: Roles = frozenset({OPS, ADMIN})  # tracking plan, usage quarantine (release)
RULE_EDITORS: Roles = frozenset({OPS, ADMIN})  # notification rules: add and change
PREFERENCE_SETTERS: Roles = NOTE_WRITERS  # a customer's message preferences: set
TEMPLATE_EDITORS: Roles = frozenset({OPS, ADMIN})  # WhatsApp templates: register, approve
EXPORTERS: Roles = frozenset(
    {SUPPORT, FINANCE, ADMIN}
)  # a customer's data export (support requests)

Key = tuple[str, str, str]


def _admin(
    label: str,
    *,
    view: Roles,
    add: Roles = NOBODY,
    delete: Roles = NOBODY,
    actions: bool = True,
    **extra: Roles,
) -> dict[Key, Roles]:
    """One model's admin rules: changelist, change page and history are its viewers', then add, delete
    (the page; ``delete_selected`` is its action) and any actions (``action:<name>``) and custom
    URLs (``url:<url name>``), passed as keywords with ``:`` written ``__``. ``actions=False``:
    the admin has none at all (``actions = None``), not even ``delete_selected``."""
    rules: dict[Key, Roles] = {
        ("admin", label, "changelist"): view,
        ("admin", label, "change"): view,
        ("admin", label, "history"): view,
        ("admin", label, "add"): add,
        ("admin", label, "delete"): delete,
    }
    if actions:
        rules[("admin", label, "action:delete_selected")] = delete
    for name, roles in extra.items():
        rules[("admin", label, name.replace("__", ":", 1))] = roles
    return rules


RULES: dict[Key, Roles] = {
    # customers, timelines, orders, shipments: read for every role, all for admin
    **_admin(
        "accounts.customer",
        view=EVERYONE,
        add=ADMIN_ONLY,
        delete=ADMIN_ONLY,
        url__accounts_customer_add_note=NOTE_WRITERS,
        url__accounts_customer_export=EXPORTERS,
    ),
    **_admin("accounts.customernote", view=EVERYONE, delete=ADMIN_ONLY),
    **_admin("integrations.domainevent", view=EVERYONE),
    **_admin(
        "notifications.notification",
        view=EVERYONE,
        url__notifications_notification_resend=RESENDERS,
    ),
    **_admin(
        "notifications.emailsuppression",
        view=EVERYONE,
        url__notifications_emailsuppression_clear=SUPPRESSION_CLEARERS,
    ),
    **_admin("notifications.consentrecord", view=EVERYONE, actions=False),
    **_admin("notifications.notificationrule", view=EVERYONE, add=RULE_EDITORS, delete=ADMIN_ONLY),
    **_admin(
        "notifications.notificationpreference",
        view=EVERYONE,
        actions=False,
        url__notifications_notificationpreference_set=PREFERENCE_SETTERS,
    ),
    **_admin(
        "notifications.whatsapptemplate",
        view=TEMPLATE_EDITORS,
        add=TEMPLATE_EDITORS,
        delete=TEMPLATE_EDITORS,
    ),
    **_admin(
        "orders.order",
        view=EVERYONE,
        action__place_again=ADMIN_ONLY,
        url__orders_order_shipping_buy=LABEL_BUYERS,
        url__orders_order_shipping_void=LABEL_BUYERS,
    ),
    **_admin("shipping.shipment", view=EVERYONE),
    **_admin("shipping.tablerate", view=LABEL_BUYERS, add=LABEL_BUYERS, delete=LABEL_BUYERS),
    **_admin("shipping.trackingevent", view=EVERYONE, actions=False),
    # delay and exception alerts: read with the shipments, worked (marked handled) by ops
    **_admin(
        "shipping.shipmentalert",
        view=EVERYONE,
        action__handle_selected=INTEGRATION_OPERATORS,
        url__shipping_shipmentalert_handle=INTEGRATION_OPERATORS,
    ),
    # the product's tracking plan and the usage events it refused: ops keep them
    **_admin("usage.trackedevent", view=PLAN_KEEPERS, add=PLAN_KEEPERS, delete=PLAN_KEEPERS),
    **_admin(
        "usage.quarantinedusageevent",
        view=PLAN_KEEPERS,
        action__release_selected=PLAN_KEEPERS,
    ),
    # payments are read with the orders; requesting and deciding refunds are their own rights
    **_admin(
        "payments.payment", view=EVERYONE, url__payments_payment_request_refund=REFUND_REQUESTERS
    ),
    **_admin(
        "payments.refund",
        view=EVERYONE,
        action__approve_selected=FINANCE_ROLES,
        action__reject_selected=FINANCE_ROLES,
        url__payments_refund_approve=FINANCE_ROLES,
        url__payments_refund_reject=FINANCE_ROLES,
    ),
    # reconciliation (disputes are read with it)
    **_admin(
        "payments.dispute",
        view=FINANCE_ROLES,
        # to the dispute's evidence page (a new one when none), and submitting it
        url__payments_dispute_evidence=FINANCE_ROLES,
        url__payments_dispute_submit_evidence=FINANCE_ROLES,
    ),
    # dispute evidence: finance assembles it (documents inline), never deletes it
    **_admin(
        "payments.disputeevidence",
        view=FINANCE_ROLES,
        add=FINANCE_ROLES,
        actions=False,
        url__payments_disputeevidence_document=FINANCE_ROLES,  # a document's download
    ),
    # settlement import: finance reads lines and payouts, keeps CSV mappings, uploads statements
    **_admin("payments.settlementline", view=FINANCE_ROLES),
    **_admin("payments.payout", view=FINANCE_ROLES),
    **_admin(
        "payments.csvcolumnmapping",
        view=FINANCE_ROLES,
        add=FINANCE_ROLES,
        delete=FINANCE_ROLES,
        url__payments_csvcolumnmapping_upload=FINANCE_ROLES,
    ),
    # matching: finance keeps the ordered rules and reads the engine's matches
    **_admin("payments.matchingrule", view=FINANCE_ROLES, add=FINANCE_ROLES, delete=FINANCE_ROLES),
    **_admin("payments.settlementmatch", view=FINANCE_ROLES),
    **_admin(
        "payments.reconciliationexception",
        view=FINANCE_ROLES,
        action__resolve_selected=FINANCE_ROLES,
        # The finance dashboard (volume, refunds, disputes, reconciliation as charts).
        url__payments_reconciliationexception_finance=FINANCE_ROLES,
        # The exception queue's own pages: resolve one, approve or reject a write-off.
        url__payments_reconciliationexception_resolve=FINANCE_ROLES,
        url__payments_reconciliationexception_write_off=FINANCE_ROLES,
    ),
    # the accounting journal: finance reads it, exports it (audited) and closes periods
    **_admin(
        "accounting.journalentry",
        view=FINANCE_ROLES,
        actions=False,
        url__accounting_journalentry_export=FINANCE_ROLES,
    ),
    **_admin(
        "accounting.accountingperiod", view=FINANCE_ROLES, action__close_selected=FINANCE_ROLES
    ),
    # webhook inbox, replay, provider calls, deliveries: finance reads, ops works them
    **_admin(
        "integrations.webhookevent",
        view=INTEGRATION_READERS,
        action__replay_selected=INTEGRATION_OPERATORS,
        url__integrations_webhookevent_replay=INTEGRATION_OPERATORS,
    ),
    **_admin("integrations.webhookrejection", view=INTEGRATION_READERS),
    **_admin("integrations.providercall", view=INTEGRATION_READERS),
    **_admin(
        "integrations.circuitbreaker",
        view=INTEGRATION_READERS,
        action__reset_breakers=INTEGRATION_OPERATORS,
        # The ops page (backlogs, breakers, call latency, queues as charts): ops only.
        url__integrations_circuitbreaker_ops=INTEGRATION_OPERATORS,
    ),
    **_admin(
        "integrations.delivery",
        view=INTEGRATION_READERS,
        action__retry_selected=INTEGRATION_OPERATORS,
    ),
    **_admin("integrations.taskheartbeat", view=INTEGRATION_READERS),
    # outbound webhooks to the business's own systems: ops run them (finance does not see them)
    **_admin(
        "integrations.webhookendpoint",
        view=INTEGRATION_OPERATORS,
        add=INTEGRATION_OPERATORS,
        delete=ADMIN_ONLY,
        url__integrations_webhookendpoint_send_test=INTEGRATION_OPERATORS,
        url__integrations_webhookendpoint_rotate_secret=INTEGRATION_OPERATORS,
        url__integrations_webhookendpoint_recover=INTEGRATION_OPERATORS,
    ),
    **_admin(
        "integrations.webhookmessage",
        view=INTEGRATION_OPERATORS,
        actions=False,
        url__integrations_webhookmessage_resend=INTEGRATION_OPERATORS,
    ),
    # alerts told to Slack and e-mail (read-only: written by the alert services)
    **_admin("integrations.staffalert", view=INTEGRATION_READERS, actions=False),
    # users, roles, credentials (and the audit log): admin only
    **_admin(
        "accounts.user",
        view=ADMIN_ONLY,
        add=ADMIN_ONLY,
        delete=ADMIN_ONLY,
        url__auth_user_password_change=ADMIN_ONLY,
    ),
    **_admin("auth.group", view=ADMIN_ONLY, add=ADMIN_ONLY, delete=ADMIN_ONLY),
    **_admin(
        "accounts.apikey",
        view=ADMIN_ONLY,
        add=ADMIN_ONLY,
        delete=ADMIN_ONLY,
        action__revoke_selected=ADMIN_ONLY,
    ),
    **_admin("accounts.auditlogentry", view=ADMIN_ONLY, actions=False),
    # stored provider tokens: provider, name and expiry only, never the value
    **_admin("integrations.providercredential", view=ADMIN_ONLY, actions=False),
    # allauth's screens (break-glass password login): e-mail addresses, TOTP authenticators
    **_admin(
        "account.emailaddress",
        view=ADMIN_ONLY,
        add=ADMIN_ONLY,
        delete=ADMIN_ONLY,
        action__make_verified=ADMIN_ONLY,
    ),
    **_admin("mfa.authenticator", view=ADMIN_ONLY, add=ADMIN_ONLY, delete=ADMIN_ONLY),
    # allauth's social accounts (staff SSO over SAML): admin only
    **_admin("socialaccount.socialapp", view=ADMIN_ONLY, add=ADMIN_ONLY, delete=ADMIN_ONLY),
    **_admin("socialaccount.socialaccount", view=ADMIN_ONLY, add=ADMIN_ONLY, delete=ADMIN_ONLY),
    **_admin("socialaccount.socialtoken", view=ADMIN_ONLY, add=ADMIN_ONLY, delete=ADMIN_ONLY),
    # the task queue's own screens (django-q): not in the table, so admin only
    **_admin("django_q.schedule", view=ADMIN_ONLY, add=ADMIN_ONLY, delete=ADMIN_ONLY),
    **_admin(
        "django_q.success",
        view=ADMIN_ONLY,
        delete=ADMIN_ONLY,
        action__resubmit_task=ADMIN_ONLY,
    ),
    **_admin(
        "django_q.failure",
        view=ADMIN_ONLY,
        delete=ADMIN_ONLY,
        action__resubmit_task=ADMIN_ONLY,
    ),
    # django-q2 registers its queue admin only with the ORM broker (the embedded profile).
    **(
        _admin("django_q.ormq", view=ADMIN_ONLY, delete=ADMIN_ONLY)
        if "orm" in settings.Q_CLUSTER
        else {}
    ),
    # /api/v1/ with a staff session: what the role reaches in the admin (HasScope maps the
    # endpoint's scope to a Django permission). Placing orders and sending usage is the
    # product's, through its API key; of the staff, only the admin role may.
    ("api", "api-orders", "GET"): EVERYONE,
    ("api", "api-orders", "POST"): ADMIN_ONLY,
    ("api", "api-order-detail", "GET"): EVERYONE,
    # A customer's context (scope customers:read): whoever sees customers in the admin.
    ("api", "api-customer-context", "GET"): EVERYONE,
    ("api", "api-usage", "POST"): ADMIN_ONLY,
    # Quoting keeps table rates and an order's quotes: those who may buy labels.
    ("api", "api-shipping-quotes", "POST"): LABEL_BUYERS,
    ("api", "api-shipping-quote-choose", "POST"): LABEL_BUYERS,
}

STANDARD_ADMIN_URLS = ("changelist", "add", "history", "delete", "change")
ADMIN_PAGES = ("changelist", "add", "change", "history", "delete")  # all walked with GET
# How each custom admin URL is called (all take the object's pk) and what success answers.
CUSTOM_ADMIN_CALLS: dict[str, tuple[str, dict[str, Any], int]] = {
    "accounts_customer_add_note": ("post", {"body": "Called about the parcel."}, 302),
    "accounts_customer_export": ("get", {}, 200),
    "payments_payment_request_refund": ("get", {}, 200),
    "payments_refund_approve": ("post", {}, 302),
    "integrations_webhookevent_replay": ("post", {}, 302),
    "notifications_emailsuppression_clear": ("post", {}, 302),
    "notifications_notification_resend": ("post", {}, 302),
    "notifications_notificationpreference_set": ("post", {"allowed": "marketing:sms"}, 302),
    "orders_order_shipping_buy": ("post", {}, 302),
    "orders_order_shipping_void": ("post", {}, 302),
    "payments_refund_reject": ("get", {}, 200),
    "payments_csvcolumnmapping_upload": ("get", {}, 200),
    "payments_dispute_evidence": ("get", {}, 302),
    "payments_disputeevidence_document": ("get", {}, 200),
    # The walk's sandbox dispute has no evidence: refused with a message on the dispute's page.
    "payments_dispute_submit_evidence": ("post", {}, 302),
    "auth_user_password_change": ("get", {}, 200),
    # Once handled, a second call says so on the page it redirects to (still a 302).
    "shipping_shipmentalert_handle": ("post", {"note": "Called the carrier."}, 302),
    "integrations_webhookendpoint_send_test": ("post", {}, 302),
    # Answers with the page that shows the new secret once (never a redirect: nothing stored).
    "integrations_webhookendpoint_rotate_secret": ("post", {}, 200),
    "integrations_webhookendpoint_recover": ("post", {"since": "2020-01-01 00:00"}, 302),
    "integrations_webhookmessage_resend": ("post", {}, 302),
    "integrations_circuitbreaker_ops": ("get", {}, 200),
    "payments_reconciliationexception_finance": ("get", {}, 200),
    "accounting_journalentry_export": ("get", {}, 200),
    "payments_reconciliationexception_resolve": ("get", {}, 200),
    "payments_reconciliationexception_write_off": ("get", {}, 200),
}
# Custom admin URLs that take another model's pk than their admin's: whose.
CUSTOM_ADMIN_URL_OBJECT = {
    "notifications_notificationpreference_set": "accounts.customer",
    "payments_disputeevidence_document": "payments.evidencedocument",
}
# Custom admin URLs about no one object (pages over the whole table).
CUSTOM_ADMIN_URL_NO_OBJECT = frozenset(
    {
        "integrations_circuitbreaker_ops",
        "payments_reconciliationexception_finance",
        "accounting_journalentry_export",
    }
)
API_METHODS = ("get", "post", "put", "patch", "delete")


# Enumeration ------------------------------------------------------------------------------


def _label(model: type[Model]) -> str:
    return model._meta.label_lower


def _admin_actions(modeladmin: admin.ModelAdmin[Any]) -> list[str]:
    """The actions a ModelAdmin declares (``get_actions`` depends on the request's user)."""
    if modeladmin.actions is None:
        return []
    names = [a if isinstance(a, str) else a.__name__ for a in modeladmin.actions]
    names += [name for name, _ in admin.site.actions if name not in names]
    return names


def _custom_admin_urls(modeladmin: admin.ModelAdmin[Any]) -> list[str]:
    opts = modeladmin.model._meta
    standard = {f"{opts.app_label}_{opts.model_name}_{op}" for op in STANDARD_ADMIN_URLS}
    names = [p.name for p in modeladmin.get_urls() if isinstance(p, URLPattern)]
    return [name for name in names if name is not None and name not in standard]


def _api_endpoints() -> list[tuple[str, str]]:
    found = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern), f"nested API URL conf {pattern!r}: walk it here"
        view_class = getattr(pattern.callback, "view_class", None)
        methods = [m for m in API_METHODS if view_class is None or hasattr(view_class, m)]
        name = pattern.name or str(pattern.pattern)
        found += [(name, method.upper()) for method in methods]
    return found


def enumerated() -> list[Key]:
    keys: list[Key] = []
    for model, modeladmin in admin.site._registry.items():
        label = _label(model)
        keys += [("admin", label, op) for op in ADMIN_PAGES]
        keys += [("admin", label, f"action:{name}") for name in _admin_actions(modeladmin)]
        keys += [("admin", label, f"url:{name}") for name in _custom_admin_urls(modeladmin)]
    keys += [("api", name, method) for name, method in _api_endpoints()]
    return keys


def test_every_item_has_a_rule() -> None:
    items = enumerated()
    missing = [key for key in items if key not in RULES]
    assert not missing, (
        "No rule in tests/accounts/test_rights_matrix.py RULES for: "
        + ", ".join(" ".join(key) for key in missing)
        + ". Add one from DESIGN.md's rights table (and make the code enforce it)."
    )
    stale = sorted(set(RULES) - set(items))
    assert not stale, f"Rules for things that no longer exist: {stale}"
    custom = {key[2][4:] for key in items if key[2].startswith("url:")}
    assert custom <= set(CUSTOM_ADMIN_CALLS), (
        f"Say how to call these admin URLs in CUSTOM_ADMIN_CALLS: {custom - set(CUSTOM_ADMIN_CALLS)}"
    )


# One object per admin --------------------------------------------------------------------


def _make_objects(requester: User) -> dict[str, Model]:
    """One existing row per registered model, built through the services where there is one."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
    from django_q import signing
    from django_q.models import OrmQ, Schedule, Task

    now = timezone.now()
    customer = make_customer()
    payment = make_paid_payment(order=make_order(customer=customer))
    order = payment.order
    shipment = shipment_create(order=order, carrier="correios")
    refund = refund_request(
        payment=payment,
        requested_by=requester,
        reason=RefundReason.REQUESTED_BY_CUSTOMER,
        amount=1_000,
    )
    event = DomainEvent.objects.order_by("id").first()
    assert event is not None
    key, _ = api_key_create(name="storefront", scopes=["orders:read"])
    task = {"name": "t", "func": "math.floor", "started": now, "stopped": now}
    social_app = SocialApp.objects.create(provider="saml", name="SAML", client_id="rights")
    social_account = SocialAccount.objects.create(user=requester, provider="saml", uid="rights")
    endpoint, _ = endpoint_create(url="https://erp.example.test/hooks", event_types=["order.*"])
    objects: dict[str, Model] = {
        "accounts.customer": customer,
        "accounts.customernote": customer_note_add(
            customer=customer, author=requester, body="Wants a call back."
        ),
        "accounts.user": requester,
        "auth.group": Group.objects.get(name=SUPPORT),
        "accounts.apikey": key,
        "accounts.auditlogentry": AuditLogEntry.objects.create(
            action=AuditLogEntry.Action.LOGIN, actor=requester
        ),
        "integrations.domainevent": event,
        "notifications.notification": Notification.objects.create(
            customer=customer,
            channel=Notification._meta.get_field("channel").choices[0][0],  # type: ignore[index]
            template="order_placed",
            recipient=customer.email,
            body="Thanks!",
        ),
        "notifications.emailsuppression": EmailSuppression.objects.create(
            address=customer.email.lower(), reason="bounced"
        ),
        "notifications.notificationrule": NotificationRule.objects.get(template="order_paid"),
        "notifications.consentrecord": consent_opt_out(
            customer=customer, channel="sms", source="twilio inbound STOP"
        ),
        "notifications.notificationpreference": notification_preferences_set(
            customer=customer, preferences={("marketing", "whatsapp"): False}
        )[0],
        "notifications.whatsapptemplate": WhatsAppTemplate.objects.create(
            key="order_paid",
            language="pt-br",
            provider="twilio",
            provider_template="HX" + "0" * 32,
            variables=["first_name"],
            approved=True,
        ),
        "orders.order": order,
        "usage.trackedevent": TrackedEvent.objects.get(name="signed_in"),
        "usage.quarantinedusageevent": QuarantinedUsageEvent.objects.create(
            source="api_key:1",
            client_event_id="evt-1",
            event="exported",
            customer_ref={"email": customer.email},
            reason="event 'exported' is not in the tracking plan",
            received_at=now,
            ingest_id="00000000-0000-0000-0000-000000000001",
        ),
        "shipping.shipment": shipment,
        "shipping.tablerate": TableRate.objects.create(
            carrier="sandbox",
            service="economy",
            postal_prefix="20271",
            weight_up_to_grams=1000,
            amount=1890,
            currency="BRL",
            days=8,
            updated_at=now,
        ),
        "shipping.trackingevent": TrackingEvent.objects.create(
            shipment=shipment, status="unknown", carrier_code="XYZ", needs_attention=True
        ),
        "shipping.shipmentalert": ShipmentAlert.objects.create(
            shipment=shipment, reason=AlertReason.STALE_SCAN, detail="No scan for 6 days."
        ),
        "payments.payment": payment,
        "payments.refund": refund,
        "payments.dispute": Dispute.objects.create(
            payment=payment,
            provider="sandbox",
            provider_dispute_id="dp_1",
            amount=1_000,
            currency="BRL",
            opened_at=now,
        ),
        "payments.settlementline": SettlementLine.objects.create(
            provider="stripe",
            provider_line_id="txn_1",
            kind="charge",
            amount=1_000,
            fee=59,
            net=941,
            currency="BRL",
            created_at=now,
        ),
        "payments.payout": Payout.objects.create(
            provider="stripe",
            provider_payout_id="po_1",
            amount=941,
            currency="BRL",
            status="paid",
            created_at=now,
        ),
        "accounting.journalentry": journal_post(
            source_kind="payout",
            source_key="rights",
            occurred_at=now,
            currency="BRL",
            lines=[debit("bank", 100), credit("provider_clearing", 100)],
            memo="rights",
        )[0],
        "accounting.accountingperiod": AccountingPeriod.objects.get(),
        "payments.matchingrule": MatchingRule.objects.create(name="Rights matrix rule"),
        "payments.settlementmatch": SettlementMatch.objects.create(method="manual", note="x"),
        "payments.csvcolumnmapping": CsvColumnMapping.objects.create(
            name="Bank", provider="bank", date_column="d", amount_column="a", fixed_currency="BRL"
        ),
        "payments.reconciliationexception": ReconciliationException.objects.create(
            provider="sandbox", kind=ReconciliationException.Kind.UNKNOWN_OBJECT, detail="?"
        ),
        "integrations.webhookevent": WebhookEvent.objects.create(
            provider="sandbox", event_id="evt_1", body="{}"
        ),
        "integrations.webhookrejection": WebhookRejection.objects.create(
            provider="sandbox",
            reason="bad signature",
            status_code=401,
            body_sha256="0",
            body_size=0,
        ),
        "integrations.providercall": ProviderCall.objects.create(
            provider="sandbox",
            operation="charge",
            method="POST",
            url="https://sandbox.test/",
            outcome=ProviderCall._meta.get_field("outcome").choices[0][0],  # type: ignore[index]
        ),
        "integrations.circuitbreaker": CircuitBreaker.objects.get_or_create(provider="sandbox")[0],
        "integrations.providercredential": ProviderCredential.objects.create(
            provider="sandbox", name="access_token", ciphertext="gAAAAA-not-a-real-token"
        ),
        "integrations.delivery": Delivery.objects.create(event=event, subscriber="rights-test"),
        "integrations.taskheartbeat": TaskHeartbeat.objects.create(cluster="c1", beat_at=now),
        "integrations.webhookendpoint": endpoint,
        "integrations.webhookmessage": WebhookMessage.objects.create(
            endpoint=endpoint,
            event=event,
            event_type=event.type,
            msg_id="msg_rights",
            status=WebhookMessage.Status.SUCCEEDED,
        ),
        "integrations.staffalert": StaffAlert.objects.create(
            kind="breaker_open", role="ops", object_key="breaker:sandbox", title="Open"
        ),
        "account.emailaddress": EmailAddress.objects.create(
            user=requester, email=requester.email, primary=True
        ),
        "mfa.authenticator": TOTP.activate(requester, generate_totp_secret()).instance,
        "socialaccount.socialapp": social_app,
        "socialaccount.socialaccount": social_account,
        "socialaccount.socialtoken": SocialToken.objects.create(
            app=social_app, account=social_account, token="t"
        ),
        "django_q.schedule": Schedule.objects.create(func="math.floor"),
        "django_q.success": Task.objects.create(id="a" * 32, success=True, **task),
        "django_q.failure": Task.objects.create(id="b" * 32, success=False, **task),
        "django_q.ormq": OrmQ.objects.create(
            key="default",
            payload=signing.SignedPackage.dumps(
                {"id": "c" * 32, "name": "t", "func": "math.floor"}
            ),
            lock=now + timedelta(minutes=1),
        ),
    }
    evidence = DisputeEvidence.objects.create(dispute=objects["payments.dispute"])  # type: ignore[misc]
    objects["payments.disputeevidence"] = evidence
    # Not an admin of its own (an inline of the evidence): only its download URL needs one.
    objects["payments.evidencedocument"] = EvidenceDocument.objects.create(
        evidence=evidence,
        file=ContentFile(b"%PDF-1.4\n%%EOF\n", name="receipt.pdf"),
        original_name="receipt.pdf",
        size=14,
        content_type="application/pdf",
    )
    return objects


def _api_calls(customer_email: str) -> dict[tuple[str, str], tuple[str, dict[str, Any], int]]:
    """(endpoint, method) -> (path, JSON body, success status)."""
    order = {
        "customer": {"email": "bia@example.test", "name": "Bia Lima"},
        "currency": "BRL",
        "payment_method": "pix",
        "lines": [{"sku": "CAF-250", "description": "Coffee", "quantity": 1, "unit_amount": 4990}],
    }
    from orders.models import Order

    number = Order.objects.values_list("number", flat=True).first()
    quote = ShippingQuote.objects.create(
        order=Order.objects.get(number=number),
        carrier="sandbox",
        service="economy",
        amount=1890,
        currency="BRL",
        days=8,
        source="carrier",
    )
    return {
        ("api-orders", "GET"): (reverse("api-orders"), {}, 200),
        ("api-orders", "POST"): (reverse("api-orders"), order, 201),
        ("api-order-detail", "GET"): (reverse("api-order-detail", args=[number]), {}, 200),
        ("api-customer-context", "GET"): (
            reverse("api-customer-context", args=[Order.objects.get(number=number).customer_id]),
            {},
            200,
        ),
        ("api-usage", "POST"): (
            reverse("api-usage"),
            {"customer_email": customer_email, "name": "signed_in"},
            202,
        ),
        ("api-shipping-quotes", "POST"): (
            reverse("api-shipping-quotes"),
            {
                "destination_postal_code": "20271-130",
                "volumes": [
                    {"weight_grams": 500, "length_mm": 200, "width_mm": 150, "height_mm": 50}
                ],
            },
            200,
        ),
        # The order has a shipment already: choosing answers 409 for those allowed.
        ("api-shipping-quote-choose", "POST"): (
            reverse("api-shipping-quote-choose", args=[quote.pk]),
            {},
            409,
        ),
    }


# The walk ---------------------------------------------------------------------------------


class ActionRecorder:
    """Stands in for every admin action (the ModelAdmins' and the site's ``delete_selected``):
    records that it ran instead of running it, so walking the actions has no side effects and a
    refused action is seen not to have run. Keeps each action's ``allowed_permissions``, which
    is what Django offers or refuses it by."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[Any]]] = []

    def stand_in(self, func: Any, name: str) -> Any:
        def record(modeladmin: Any, request: Any, queryset: Any) -> None:
            pks = sorted(queryset.values_list("pk", flat=True))
            self.calls.append((_label(modeladmin.model), name, pks))

        if hasattr(func, "allowed_permissions"):
            record.allowed_permissions = func.allowed_permissions  # type: ignore[attr-defined]
        record.short_description = getattr(func, "short_description", name)  # type: ignore[attr-defined]
        return record

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, func in list(admin.site.actions):
            monkeypatch.setitem(admin.site._actions, name, self.stand_in(func, name))
        for modeladmin in admin.site._registry.values():
            monkeypatch.setattr(modeladmin, "get_action", self._get_action(modeladmin))

    def _get_action(self, modeladmin: admin.ModelAdmin[Any]) -> Callable[[Any], Any]:
        original = modeladmin.get_action

        def get_action(action: Any) -> Any:
            found = original(action)
            if found is None:
                return None
            func, name, description = found
            return self.stand_in(func, name), name, description

        return get_action


def _is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_rights_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    sync_roles()
    cache.clear()  # API throttles
    requester = make_staff("requester", role=SUPPORT)
    users = {role: make_staff(f"role-{role}", role=role) for role in ROLES}
    assert not users[ADMIN].is_superuser  # the admin role's rights come from its group
    users[NO_ROLE] = make_staff("no-role")
    clients: dict[str, Client] = {ANONYMOUS: Client()}
    for who, user in users.items():
        clients[who] = Client()
        clients[who].force_login(user)
    objects = _make_objects(requester)
    recorder = ActionRecorder()
    recorder.install(monkeypatch)

    wrong: list[str] = []

    def check(key: Key, who: str, ok: bool, response: Any, expected: str) -> None:
        if not ok:
            wrong.append(
                f"{' '.join(key)} as {who}: expected {expected}, got {response.status_code}"
                + (f" -> {response['Location']}" if response.status_code == 302 else "")
            )

    def walk_page(key: Key, url: str, method: str, data: dict[str, Any], success: int) -> None:
        allowed = RULES[key]
        for who, client in clients.items():
            response = getattr(client, method)(url, data)
            if who == ANONYMOUS:
                check(key, who, _is_login_redirect(response), response, "login redirect")
            elif who in allowed:
                check(key, who, response.status_code == success, response, str(success))
            else:
                check(key, who, response.status_code == 403, response, "403")

    for model, modeladmin in admin.site._registry.items():
        label = _label(model)
        obj = objects.get(label)
        assert obj is not None, f"Add {label} to _make_objects, so its change page is walked."
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pk = obj.pk
        for page in ADMIN_PAGES:
            args = [] if page in ("changelist", "add") else [pk]
            url = reverse(f"{info}_{page}", args=args)
            walk_page(("admin", label, page), url, "get", {}, 200)
        # Actions first: they are stand-ins, while the custom URLs below act for real.
        changelist = reverse(f"{info}_changelist")
        for name in _admin_actions(modeladmin):
            key = ("admin", label, f"action:{name}")
            for who, client in clients.items():
                recorder.calls.clear()
                response = client.post(changelist, {"action": name, "_selected_action": [pk]})
                ran = recorder.calls == [(label, name, [pk])]
                if who == ANONYMOUS:
                    ok = _is_login_redirect(response) and not recorder.calls
                    check(key, who, ok, response, "login redirect, action not run")
                elif who in RULES[key]:
                    check(key, who, ran and response.status_code == 302, response, "302, ran")
                else:
                    # Django answers a refused action with the changelist (or 403 without
                    # view rights); what matters is that it did not run.
                    ok = not recorder.calls and response.status_code in (200, 302, 403)
                    check(key, who, ok, response, "action not run")
        for name in _custom_admin_urls(modeladmin):
            method, data, success = CUSTOM_ADMIN_CALLS[name]
            on = CUSTOM_ADMIN_URL_OBJECT.get(name)
            args = [] if name in CUSTOM_ADMIN_URL_NO_OBJECT else [objects[on].pk if on else pk]
            walk_page(
                ("admin", label, f"url:{name}"),
                reverse(f"admin:{name}", args=args),
                method,
                data,
                success,
            )

    calls = _api_calls(objects["accounts.customer"].email)  # type: ignore[attr-defined]
    for name, method in _api_endpoints():
        key = ("api", name, method)
        assert (name, method) in calls, f"Say how to call {name} {method} in _api_calls."
        url, body, success = calls[(name, method)]
        for who, client in clients.items():
            call: Callable[..., Any] = getattr(client, method.lower())
            response = (
                call(url, body, content_type="application/json") if method != "GET" else call(url)
            )
            if who == ANONYMOUS:
                check(key, who, response.status_code in (401, 403), response, "401/403")
            elif who in RULES[key]:
                check(key, who, response.status_code == success, response, str(success))
            else:
                check(key, who, response.status_code == 403, response, "403")

    assert not wrong, "Rights differ from the design's table:\n" + "\n".join(wrong)


def _roles_of(rules: Iterable[Roles]) -> set[str]:
    return set().union(*rules)


def test_rules_name_only_known_roles() -> None:
    assert _roles_of(RULES.values()) <= set(ROLES)
