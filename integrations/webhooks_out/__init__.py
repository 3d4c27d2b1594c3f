"""Outbound webhooks for the business's own systems (issue 14, item 4; docs/outbound-webhooks.md).

Every committed domain event reaches the ``integrations.webhooks_out`` subscriber (a Delivery row
written with the event, so a rolled-back event sends nothing and a crash loses nothing); it
writes one WebhookMessage per matching active endpoint, unique per (endpoint, event). Drains on
the task cluster claim due messages in batches, send them concurrently through the SSRF guard
(DNS resolved once, the address pinned, no redirects), signed with the Standard Webhooks scheme,
and log every attempt; failures follow Svix's retry schedule; an endpoint failing for 5 days is
disabled, with a domain event and a staff alert.
"""
