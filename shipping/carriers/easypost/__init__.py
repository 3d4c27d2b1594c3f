"""EasyPost (labels from USPS, UPS, FedEx, ... through one account): shipments with rates, buying
a rate, refunds (void), trackers, and its ``tracker.updated`` webhooks at ``/webhooks/easypost/``.

``client`` is the only module that touches the official ``easypost`` SDK; its HTTP goes through
the shared ``ProviderClient`` (ledger, retries, breaker, timeouts). ``adapter`` implements
``Carrier``; ``tracking`` maps EasyPost's tracker statuses to ours; ``webhooks`` verifies
``X-Hmac-Signature``. Its JSON and units (inches, ounces, decimal prices) never leave this
package.
"""

from integrations.providers import (
    SHIPPING,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    https_url,
    prefixed,
    token,
)

_webhook_secret = token(min_length=16, max_length=255)

spec = ProviderSpec(
    family=SHIPPING.name,
    name="easypost",
    adapter="shipping.carriers.easypost.adapter.EasyPostCarrier",
    enabled_by="EASYPOST_ENABLED",
    webhooks=(WebhookRoute("easypost", "shipping.carriers.easypost.webhooks.endpoint"),),
    settings=(
        # EZAK (production) or EZTK (test), then the key's characters.
        ProviderSetting("EASYPOST_API_KEY", check=prefixed("EZAK", "EZTK", min_length=20)),
        ProviderSetting("EASYPOST_WEBHOOK_SECRET", check=_webhook_secret),
        # The old secret kept during a rotation: checked when set.
        ProviderSetting("EASYPOST_WEBHOOK_SECRET_PREVIOUS", required=False, check=_webhook_secret),
        ProviderSetting("EASYPOST_API_BASE", check=https_url),
        ProviderSetting("EASYPOST_FROM_ZIP", check=token(min_length=3, max_length=12)),
    ),
    description="Labels from many carriers (USPS, UPS, FedEx, ...) through EasyPost's SDK.",
)
