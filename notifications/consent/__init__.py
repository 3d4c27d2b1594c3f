"""Consent: what each customer said about being messaged on each channel.

The ledger (``ConsentRecord``) is append-only: every opt-in and opt-out is a row with its source
("twilio inbound STOP", "twilio 21610", "staff", "api") and time; the current state of a
(customer, channel) is its newest row, and no row means nothing was said (transactional messages
go out). ``services`` writes (``consent_opt_out``, ``consent_opt_in``, each on the customer's
timeline); ``selectors`` reads (``consent_state``, ``consent_refusal``).

The notification workflow asks ``consent_refusal`` before every send and fails the notification
with its answer, before any provider call. Preferences per message category, quiet hours and
rate limits belong next to it: each is one more reason ``consent_refusal``-like checks can give.
"""
