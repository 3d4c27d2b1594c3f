"""HubSpot (CRM): contacts batch-upserted by e-mail (coalesced, rate limited), notes for
orders, payments, refunds and shipments, CRM-owned properties and won deals back through
``/webhooks/hubspot/`` (X-HubSpot-Signature-v3) and the Webhooks Journal. docs/crm.md.

``client`` speaks HubSpot's date-versioned API through the shared ``ProviderClient`` (not the
SDK, which speaks the legacy ``/crm/v3``); ``webhooks`` verifies and maps the events;
``workflows`` holds the work that calls HubSpot; ``subscribers`` hands domain events to it.
"""

from integrations.providers import (
    CRM,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    https_url,
    token,
)

spec = ProviderSpec(
    family=CRM.name,
    name="hubspot",
    adapter="accounts.crm.hubspot.client.HubSpotClient",
    enabled_by="HUBSPOT_ENABLED",
    webhooks=(WebhookRoute("hubspot", "accounts.crm.hubspot.webhooks.endpoint"),),
    settings=(
        ProviderSetting(
            "HUBSPOT_ACCESS_TOKEN",
            required=False,
            check=token(min_length=0, max_length=500),
            help="A Service Key or OAuth token; empty: the one stored encrypted.",
        ),
        ProviderSetting("HUBSPOT_CLIENT_SECRET", check=token(min_length=8, max_length=255)),
        ProviderSetting("HUBSPOT_APP_ID", check=token(min_length=1, max_length=32)),
        ProviderSetting("HUBSPOT_BASE_URL", check=https_url),
    ),
    description="HubSpot CRM two-way sync on the date-versioned API (docs/crm.md).",
)
