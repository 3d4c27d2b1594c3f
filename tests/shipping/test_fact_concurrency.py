"""A carrier's tracking scans processed by concurrent drains, each on its own database connection.

``test_fact_permutations`` shows any serial order of the scans ends where the newest says. Here
the scans of one parcel are handed to four threads at once (four drains, or a drain and the
sweeper, each picking one delivery): the shipment's watermark is read under its row lock
(``shipping.services._shipment_track``), so no drain applies a scan older than one another drain
has already applied, whatever the interleaving. On PostgreSQL this fails when the shipment is
not re-read under that lock (checked: a drain then moves a delivered parcel back to in transit).
On SQLite the threads share a file copy of the test database (WAL, ``BEGIN IMMEDIATE``, which
serializes the drains' transactions whole), as in ``tests/integrations/webhooks/test_concurrency``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections

from integrations.models import DomainEvent
from orders.models import OrderStatus
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_create, shipment_purchase_label
from tests.factories import make_paid_payment
from tests.integrations.webhooks.test_concurrency import _in_parallel, own_connections
from tests.shipping.test_fact_permutations import T0, _deliver

pytestmark = pytest.mark.django_db(transaction=True)
S = ShipmentStatus
SCANS = [S.POSTED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED]
ROUNDS = 6

__all__ = ["own_connections"]  # the fixture, used by name below


def test_scans_applied_by_concurrent_drains_end_at_the_newest_and_never_go_back(
    own_connections,
) -> None:
    shipments = []
    for _ in range(ROUNDS):
        order = make_paid_payment().order
        shipment = shipment_create(order=order, carrier="sandbox")
        shipments.append(
            shipment_purchase_label(shipment=shipment, tracking_code=f"BR{shipment.pk:09d}X")
        )

    for shipment in shipments:

        def drain(i: int, shipment: Shipment = shipment) -> None:
            own_connections()
            try:  # thread 0 has the newest scan, thread 3 the oldest; all start at once
                scan = len(SCANS) - 1 - i
                _deliver(shipment, SCANS[scan], scan + 1)
            finally:
                connections.close_all()

        _in_parallel(drain, n=len(SCANS))

    kind = ContentType.objects.get_for_model(Shipment)
    for shipment in shipments:
        shipment.refresh_from_db()
        order = shipment.order
        order.refresh_from_db()
        assert shipment.status == S.DELIVERED
        assert shipment.last_tracking_at == T0 + timedelta(minutes=len(SCANS))
        assert shipment.delivered_at == shipment.last_tracking_at
        assert shipment.posted_at == T0 + timedelta(minutes=1)
        assert order.status == OrderStatus.DELIVERED
        # What each drain applied, in the order the commits happened: never an older scan after
        # a newer one (the watermark held between drains), and delivery exactly once.
        applied = list(
            DomainEvent.objects.filter(
                subject_type=kind,
                subject_id=str(shipment.pk),
                type__in=[f"shipment.{s}" for s in SCANS],
            )
            .order_by("id")
            .values_list("type", "occurred_at")
        )
        times = [occurred_at for _, occurred_at in applied]
        assert times == sorted(times) and len(set(times)) == len(times), applied
        assert [t for t, _ in applied].count("shipment.delivered") == 1, applied
