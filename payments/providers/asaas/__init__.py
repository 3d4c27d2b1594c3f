"""Asaas (Brazil): Pix, boleto and card payments with split, refunds, and its webhooks.

``client`` speaks the HTTP API through the shared ``ProviderClient``; ``adapter`` implements
``PaymentProvider``; ``webhooks`` is the ``/webhooks/asaas/`` endpoint. Asaas JSON and decimals
never leave this package: amounts cross its edge as integer minor units (BRL centavos).
"""
