"""Consent: what each customer said about being messaged on each channel.

The ledger (``ConsentRecord``) is append-only: every opt-in and opt-out is a row with its source
("twilio inbound STOP", "twilio 21610", "staff", "api") and time; the current state of a
(customer, channel) is its newest row, and no row means nothing was said (transactional messages
go out). ``services`` writes (``consent_opt_out``, ``consent_opt_in``, each on the customer's
timeline); ``selectors`` reads (``consent_state``, ``consent_refusal``).

The send policy (``notifications.policy``) reads the newest row before every send: an opt-out
refuses the channel, and marketing needs an opt-in.
"""
