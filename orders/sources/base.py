"""What a storefront adapter does for us, in our terms (no platform JSON leaves its package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.db import models


@dataclass(frozen=True)
class FulfillmentReport:
    """A label was bought for the storefront's order ``external_order_id``: tell the store the
    parcel's tracking number and carrier company."""

    external_order_id: str
    tracking_number: str
    tracking_company: str
    reference: str
    """Ours, for the ledger and logs (``order:<pk>``)."""


@dataclass(frozen=True)
class FulfillmentResult:
    fulfillment_ids: tuple[str, ...]
    """The storefront's fulfilments carrying this tracking number (made now or earlier)."""
    created: bool
    """False when nothing was sent: the store already had it (an earlier attempt got through)
    or had nothing left to fulfil."""


class OrderSource(Protocol):
    name: str

    def report_fulfillment(
        self, report: FulfillmentReport, *, subject: models.Model | None = None
    ) -> FulfillmentResult:
        """Write the tracking number back; idempotent (a repeat after a lost answer makes no
        second fulfilment). Raises ProviderUnavailable (retry later) or ProviderRejected."""
