"""Settlement import (issue 15 item 2): what providers and banks say moved, stored once.

Stripe balance transactions and payouts, Asaas financial transactions and transfers, and CSV
statements with a saved column mapping become ``SettlementLine`` and ``Payout`` rows, unique by
provider and the provider's own id, so a re-import changes nothing. Matching them to payments is
not done here (item 3). See docs/settlements.md.
"""
