"""What an empty admin changelist says: what would appear there and why it is empty.

Keyed by ``"app_label.model_name"``; a ModelAdmin may instead set ``empty_message``. A model with
neither gets ``DEFAULT_MESSAGE``. Rendered by ``templates/admin/change_list_results.html`` through
``config.templatetags.admin_empty``.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MESSAGE = (
    "No {name} yet. They appear here as soon as Switchboard or an administrator creates one."
)

EMPTY_MESSAGES: dict[str, str] = {
    "integrations.staffalert": (
        "No staff alerts yet. An alert is told to ops or finance (Slack and e-mail) when a "
        "delivery goes dead, a circuit breaker opens, an outbound endpoint is disabled, a dispute "
        "is opened or a reconciliation exception is flagged; one per object per window."
    ),
    "integrations.webhookendpoint": (
        "No outbound webhook endpoints. Add one (Add outbound webhook endpoint) to send the "
        "domain events the business's own systems subscribe to (ERP, accounting, the product), "
        "signed with the Standard Webhooks scheme."
    ),
    "integrations.webhookmessage": (
        "No outbound webhook messages yet. A message is written for each committed domain event "
        "an active endpoint subscribes to, and for each test event sent from an endpoint's page."
    ),
    # Customers and orders
    "accounts.customer": (
        "No customers yet. Customers appear here when an order arrives through the API "
        "(POST /api/v1/orders/), when the product or the CRM reports one, or when staff add one."
    ),
    "accounts.customernote": (
        "No staff notes yet. Notes appear here when support, sales or finance add one on a "
        "customer's page."
    ),
    "orders.order": (
        "No orders yet. Orders appear here when the product places one through the API "
        "(POST /api/v1/orders/) or staff place one again from an order's page; `make demo` "
        "seeds a story of 200."
    ),
    # Money
    "payments.payment": (
        "No payments yet. A payment is started at the provider as soon as an order is placed; "
        "with the sandbox it succeeds a second later."
    ),
    "payments.refund": (
        "No refunds here. Refunds appear when support or finance request one from a payment's "
        "page; finance approves them here."
    ),
    "payments.dispute": (
        "No disputes. A dispute appears when a provider reports a chargeback on a payment "
        "(a dispute webhook); finance answers it here before its evidence is due."
    ),
    "accounting.journalentry": (
        "No journal entries yet. Each money movement posts one: a succeeded payment (charge, "
        "fee, split), a succeeded refund, a dispute (chargeback, reversal when won), a paid "
        "payout; the hourly sweep and manage.py journal_backfill post what has none."
    ),
    "accounting.accountingperiod": (
        "No accounting periods yet. A month's period opens when its first journal entry is "
        "posted; finance closes it here (Close the selected periods) once it is reconciled."
    ),
    "payments.disputeevidence": (
        "No dispute evidence yet. Open a dispute (Disputes) and choose Assemble evidence: fill "
        "what Stripe asks, add documents, then submit it to the provider before it is due."
    ),
    "payments.settlementline": (
        "No settlement lines yet. Lines appear when a provider's balance is imported (the daily "
        "settlements import, or manage.py settlements_import --provider stripe|asaas) or when "
        "finance uploads a CSV statement with a CSV column mapping."
    ),
    "payments.payout": (
        "No payouts yet. A payout (a Stripe payout, an Asaas transfer) appears when the daily "
        "settlements import, or manage.py settlements_import, reads it from the provider."
    ),
    "payments.matchingrule": (
        "No matching rules. Add one (Add matching rule) to match settlement lines that name no "
        "payment by amount, date window and order number; rules run in sequence order after "
        "the provider-id pass."
    ),
    "payments.settlementmatch": (
        "No matches yet. The matching engine makes them after each daily settlements import "
        "(or manage.py settlements_match): each settlement line with the payment, refund, "
        "dispute or payout it accounts for."
    ),
    "payments.csvcolumnmapping": (
        "No CSV column mappings. Add one (Add CSV column mapping) to say which column of a bank "
        "or PSP statement holds the date, amount, currency and reference; then upload statements "
        "with it."
    ),
    "payments.reconciliationexception": (
        "Nothing to reconcile in this view. An exception appears when a provider contradicts our "
        "records (an amount or currency that does not match, a payment that succeeded after its "
        "order was cancelled, a charge paid twice) or the settlement matching leaves something "
        "unpaired (a settlement line or payment without a match, a fee mismatch, a missing "
        "payout, a chargeback fee). Each is resolved on its Resolve page."
    ),
    # Shipping and messages
    "shipping.shipment": (
        "No shipments yet. A shipment is created when an order is paid; its tracking arrives from "
        "the carrier's webhooks."
    ),
    "shipping.tablerate": (
        "No table rates yet. Each real quote from a carrier keeps its price here, per service, "
        "destination postal prefix and weight band; quotes answer with these when no carrier "
        "answers in time. Ops may add or correct a rate by hand."
    ),
    "shipping.trackingevent": (
        "No tracking scans yet. Each scan a carrier reports (by webhook or a tracking refresh) is "
        "kept here with the carrier's own code and message; scans that need ops' attention "
        "(unknown codes, lost or cancelled parcels) are flagged."
    ),
    "shipping.shipmentalert": (
        "No shipment needs attention. A shipment is flagged here, once per reason, when it has "
        "had no scan for SHIPPING_STALE_SCAN_DAYS days, is still on its way past the date its "
        "quote promised, or the carrier reports a failed delivery, a return or a loss; the "
        'hourly scan (shipping-alerts-scan) finds them. "All" shows the handled ones too.'
    ),
    "notifications.notification": (
        "No messages yet. E-mails and WhatsApp messages appear here when an order is placed, "
        "paid, shipped or refunded; their delivery and read receipts arrive as webhooks."
    ),
    "notifications.emailsuppression": (
        "No suppressed addresses. When the e-mail provider reports a hard bounce or a spam "
        "complaint, the address appears here and no more e-mail is sent to it until someone "
        "clears it from its page."
    ),
    "notifications.notificationrule": (
        "No notification rules. A rule says which event (order paid, shipment posted...) sends "
        "which text to the customer, on which channels in order (WhatsApp, SMS, e-mail); "
        "without one, that event tells the customer nothing. Add one to start."
    ),
    "notifications.notificationpreference": (
        "No message preferences recorded. Support, sales and finance record what a customer "
        "asks (e.g. no marketing by WhatsApp) in the Message preferences grid on the customer's "
        "page; until then every channel is allowed."
    ),
    "notifications.whatsapptemplate": (
        "No WhatsApp templates yet. Outside WhatsApp's 24-hour window only a template WhatsApp "
        "approved can be sent: register each one here with its Twilio Content SID, language and "
        "variables; until then such messages are refused (whatsapp_window)."
    ),
    "notifications.consentrecord": (
        "No consent decisions yet. A row appears when a customer opts out of a channel or back "
        "in (an SMS or WhatsApp STOP, PARAR or SAIR to our Twilio number, Twilio refusing a "
        "number that unsubscribed, or staff); a channel the customer opted out of gets no more "
        "messages."
    ),
    # Product usage
    "usage.trackedevent": (
        "The tracking plan is empty: every usage event the product sends is quarantined until "
        "its name is here. Add each event name with its properties and their types."
    ),
    "usage.quarantinedusageevent": (
        "Nothing in quarantine. A usage event lands here, with the reason, when the tracking "
        "plan does not know its name, a property has the wrong type, or its customer is not "
        "known; release it once the plan (or the customer) allows it."
    ),
    # Integrations
    "integrations.providercredential": (
        "No stored provider credentials. OAuth tokens (Melhor Envio, later HubSpot) are kept here, "
        "encrypted, once a provider is authorised; their values are never shown."
    ),
    "integrations.webhookevent": (
        "No webhook events yet. Events appear here when a provider calls /webhooks/<provider>/; "
        "with the sandbox they arrive a second after an order is placed."
    ),
    "integrations.webhookrejection": (
        "No rejected webhooks. A delivery whose signature is wrong or too old is refused with a "
        "401 and a sample is kept here; none has been refused."
    ),
    "integrations.providercall": (
        "No provider calls yet. Every call to a real provider (Stripe, Asaas) leaves a row here "
        "per attempt; the sandbox providers answer in-process and leave none."
    ),
    "integrations.circuitbreaker": (
        "No circuit breakers yet. A provider's breaker appears with its first call through the "
        "outbound client; the sandbox providers make none."
    ),
    "integrations.delivery": (
        "No deliveries yet. A delivery appears for each subscriber of a domain event (a payment "
        "to start, a parcel to ship, a customer to tell) when the event is recorded."
    ),
    "integrations.domainevent": (
        "No domain events yet. Every change to an order, payment, refund, shipment, message or "
        "note records one; they make up the customers' timelines."
    ),
    "integrations.taskheartbeat": (
        "No heartbeats yet. Each task cluster writes one every minute once it runs "
        "(`manage.py qcluster`); none has run against this database."
    ),
    # Access
    "accounts.user": (
        "No staff users. Users appear at their first SSO login, or when an administrator adds one."
    ),
    "accounts.apikey": (
        "No API keys. An administrator creates one here for the product to call the API; the key "
        "is shown once."
    ),
    "accounts.auditlogentry": (
        "The audit log is empty. Every staff login, failed login, permission denial, approval, "
        "replay and export is written here."
    ),
    # System (administrators only)
    "auth.group": "No roles. `manage.py sync_roles` (run on deploy, and by seed_demo) creates them.",
    "account.emailaddress": (
        "No e-mail addresses. allauth records one per user who signs in through SAML SSO."
    ),
    "socialaccount.socialaccount": (
        "No linked SSO accounts. One appears for each user who has signed in through SAML SSO."
    ),
    "socialaccount.socialapp": (
        "No SAML applications configured here. SSO is configured through settings (OIDC, SAML)."
    ),
    "socialaccount.socialtoken": (
        "No SSO tokens. Switchboard does not keep identity provider tokens."
    ),
    "mfa.authenticator": (
        "No MFA authenticators. One appears when a break-glass administrator sets up TOTP."
    ),
    "django_q.schedule": (
        "No scheduled jobs. `manage.py migrate` registers the periodic jobs (sweepers, pruning)."
    ),
    "django_q.success": "No finished tasks recorded. The task cluster records tasks it ran here.",
    "django_q.failure": "No failed tasks. The task cluster records tasks that raised here.",
    "django_q.ormq": (
        "The task queue is empty: every queued task has been picked up by a worker (or none was "
        "queued)."
    ),
}


def empty_message(model_admin: Any) -> str:
    """The empty-state sentence for ``model_admin``'s changelist."""
    own = getattr(model_admin, "empty_message", None)
    if own:
        return str(own)
    opts = model_admin.model._meta
    message = EMPTY_MESSAGES.get(opts.label_lower)
    if message is None:
        return DEFAULT_MESSAGE.format(name=opts.verbose_name_plural)
    return message
