"""CRM sync: customers out to the CRM as contacts (coalesced, batched), notes for what happens
to them, and the CRM-owned properties (owner, lifecycle stage, deal stage) back in. The rule of
who owns which property is in docs/crm.md. Providers live in sub-packages (``hubspot``)."""
