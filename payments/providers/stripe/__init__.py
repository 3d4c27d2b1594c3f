"""Stripe (cards): the SDK wrapper (``client``), the PaymentProvider (``adapter``) and the
``/webhooks/stripe/`` endpoint (``webhooks``)."""
