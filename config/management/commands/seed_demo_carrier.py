from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.demo_carrier import CARRIER_ORDERS, labelled_shipments, seed_carrier_orders


class Command(BaseCommand):
    help = (
        "Place and pay a few demo orders, shipped to the customers' homes, so the active carrier "
        "labels them (run_demo runs it with DEMO_CARRIER=melhor_envio); waits for the labels."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=CARRIER_ORDERS)
        parser.add_argument(
            "--wait", type=float, default=60.0, help="Seconds to wait for the labels."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        orders = seed_carrier_orders(count=options["count"])
        if not orders:
            raise CommandError("No demo customers: run `manage.py seed_demo` first.")
        shipments = labelled_shipments(orders, timeout=options["wait"])
        self.stdout.write(
            f"Placed {len(orders)} paid orders for the {settings.SHIPPING_CARRIER} carrier; "
            f"{len(shipments)} labelled:"
        )
        for shipment in shipments:
            self.stdout.write(
                f"  {shipment.order.number}: {shipment.service}, tracking "
                f"{shipment.tracking_code}, label {shipment.label_url}"
            )
        missing = len(orders) - len(shipments)
        if missing:
            self.stdout.write(
                f"  {missing} not labelled yet: see Deliveries (shipping.ship_paid_order) and "
                "Provider calls in the admin."
            )
