"""WhatsApp's 24-hour window in tests: customers who wrote to the business first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.db.models.signals import post_save
from django.utils import timezone

from accounts.models import Customer
from notifications.policy.services import whatsapp_inbound_record


@contextmanager
def customers_wrote_on_whatsapp(provider: str) -> Iterator[None]:
    """Every customer created inside the block wrote to us on WhatsApp through ``provider`` an
    hour before (as a real inbound message records it), so free text may go to them."""

    def wrote(sender: Any, instance: Customer, created: bool, **kwargs: Any) -> None:
        if created:
            whatsapp_inbound_record(
                customers=[instance],
                provider=provider,
                phone=instance.phone,
                received_at=timezone.now() - timedelta(hours=1),
            )

    uid = f"tests.customers_wrote_on_whatsapp.{provider}"
    post_save.connect(wrote, sender=Customer, dispatch_uid=uid, weak=False)
    try:
        yield
    finally:
        post_save.disconnect(sender=Customer, dispatch_uid=uid)
