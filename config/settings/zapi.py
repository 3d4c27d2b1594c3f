"""Z-API (WhatsApp). Enabled by ZAPI_ENABLED; the system checks refuse to start without its
secrets or with malformed ones (notifications/channels/zapi/__init__.py). Select it with
``MESSAGE_CHANNELS=email=email,whatsapp=zapi``.

Sends go to ``<ZAPI_API_BASE>/instances/<ZAPI_INSTANCE_ID>/token/<ZAPI_INSTANCE_TOKEN>/...`` with
the account's security token in the ``Client-Token`` header. Status callbacks come to
``/webhooks/zapi/<ZAPI_WEBHOOK_TOKEN>/`` (set that URL in the Z-API panel or with
``update-webhook-message-status``) and must carry the same ``Client-Token`` header."""

from config.settings.env import env

ZAPI_ENABLED = env.bool("ZAPI_ENABLED", default=False)
ZAPI_INSTANCE_ID = env.str("ZAPI_INSTANCE_ID", default="")
ZAPI_INSTANCE_TOKEN = env.str("ZAPI_INSTANCE_TOKEN", default="")
# The account's security token ("Token de segurança da conta"), sent as Client-Token.
ZAPI_CLIENT_TOKEN = env.str("ZAPI_CLIENT_TOKEN", default="")
# The secret path segment of our callback URL. To rotate it, keep the old one in
# ZAPI_WEBHOOK_TOKEN_PREVIOUS until the new URL is saved at Z-API.
ZAPI_WEBHOOK_TOKEN = env.str("ZAPI_WEBHOOK_TOKEN", default="")
ZAPI_WEBHOOK_TOKEN_PREVIOUS = env.str("ZAPI_WEBHOOK_TOKEN_PREVIOUS", default="")
# Tests point this at a local fake.
ZAPI_API_BASE = env.str("ZAPI_API_BASE", default="https://api.z-api.io")
# After a send that may have gone through (a timeout or a 5xx), how many of the chat's latest
# messages are read back to find it before sending again (GET chat-messages/<phone>).
ZAPI_LOOKUP_AMOUNT = env.int("ZAPI_LOOKUP_AMOUNT", default=20)
