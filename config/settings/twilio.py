"""Twilio (SMS and WhatsApp). Enabled by TWILIO_ENABLED; the system checks refuse to start without
its secrets or with malformed ones (notifications/channels/twilio/__init__.py). Select it per
channel with ``MESSAGE_CHANNELS=email=email,sms=twilio,whatsapp=twilio``.

Messages are created at ``<TWILIO_API_BASE>/2010-04-01/Accounts/<TWILIO_ACCOUNT_SID>/Messages.json``
(basic auth account SID : auth token) from ``TWILIO_FROM`` (an E.164 number; WhatsApp sends go
from ``whatsapp:<number>``) or through ``TWILIO_MESSAGING_SERVICE_SID``, with
``StatusCallback=<TWILIO_STATUS_CALLBACK_URL>``: the public URL of ``/webhooks/twilio/`` exactly
as Twilio will call it (the signature covers it). Set the same URL as the number's or messaging
service's incoming-message webhook so STOP/PARAR/SAIR reach the consent ledger."""

from config.settings.env import env

TWILIO_ENABLED = env.bool("TWILIO_ENABLED", default=False)
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_STATUS_CALLBACK_URL = env.str("TWILIO_STATUS_CALLBACK_URL", default="")
# Tests point this at a local fake.
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
# After a create that may have gone through (a timeout, a 5xx), how many of the latest messages
# to the recipient are read back to find it before creating again.
TWILIO_LOOKUP_PAGE_SIZE = env.int("TWILIO_LOOKUP_PAGE_SIZE", default=50)
