"""HubSpot (CRM two-way sync, docs/crm.md). Enabled by HUBSPOT_ENABLED; the system checks refuse
to start without its secrets or with malformed ones (accounts/crm/hubspot/__init__.py).

The access token is a Service Key (Developer Platform projects 2026.09) or an OAuth token. It is
read from HUBSPOT_ACCESS_TOKEN, or, when that is empty, from the encrypted credential store
(``integrations.credentials``, provider ``hubspot``, name ``access_token``)."""

import os

from config.settings.env import env

HUBSPOT_ENABLED = env.bool("HUBSPOT_ENABLED", default=False)
# Read verbatim: tokens and secrets may hold characters django-environ would interpret.
HUBSPOT_ACCESS_TOKEN = os.environ.get("HUBSPOT_ACCESS_TOKEN", "").strip()
# The app's client secret: the key of the X-HubSpot-Signature-v3 HMAC on webhooks.
HUBSPOT_CLIENT_SECRET = os.environ.get("HUBSPOT_CLIENT_SECRET", "").strip()
# While rotating the client secret, webhooks signed with the old one are still accepted.
HUBSPOT_CLIENT_SECRET_PREVIOUS = os.environ.get("HUBSPOT_CLIENT_SECRET_PREVIOUS", "").strip()
HUBSPOT_APP_ID = env.str("HUBSPOT_APP_ID", default="")
# Production: https://api.hubapi.com; tests and the demo point it at a local fake.
HUBSPOT_BASE_URL = env.str("HUBSPOT_BASE_URL", default="https://api.hubapi.com")
# The portal (account) id, for links to a contact record in the HubSpot app.
HUBSPOT_PORTAL_ID = env.str("HUBSPOT_PORTAL_ID", default="")
HUBSPOT_APP_URL = env.str("HUBSPOT_APP_URL", default="https://app.hubspot.com")
# Many changes to one customer within this window become one contact upsert.
HUBSPOT_COALESCE_SECONDS = env.int("HUBSPOT_COALESCE_SECONDS", default=10)
# HubSpot's limit for Professional and Enterprise accounts: 190 requests per 10 seconds.
HUBSPOT_RATE_LIMIT_REQUESTS = env.int("HUBSPOT_RATE_LIMIT_REQUESTS", default=190)
HUBSPOT_RATE_LIMIT_SECONDS = env.float("HUBSPOT_RATE_LIMIT_SECONDS", default=10.0)
# A caller waits for a token at most this long; longer, the work is retried later.
HUBSPOT_RATE_LIMIT_MAX_WAIT_SECONDS = env.float("HUBSPOT_RATE_LIMIT_MAX_WAIT_SECONDS", default=5.0)
# The deal property whose value names the plan a closed-won deal activates.
HUBSPOT_DEAL_PLAN_PROPERTY = env.str("HUBSPOT_DEAL_PLAN_PROPERTY", default="dealname")
# Owner id -> a name or e-mail shown on the customer page ("123=ana@example.com,456=Bruno").
HUBSPOT_OWNER_NAMES = env.dict("HUBSPOT_OWNER_NAMES", default={})
# Journal entries read per request and pages per catch-up run.
HUBSPOT_JOURNAL_PAGE_SIZE = env.int("HUBSPOT_JOURNAL_PAGE_SIZE", default=100)
HUBSPOT_JOURNAL_MAX_PAGES = env.int("HUBSPOT_JOURNAL_MAX_PAGES", default=50)
