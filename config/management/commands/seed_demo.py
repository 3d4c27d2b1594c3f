from typing import Any

from django.core.management.base import BaseCommand

from config.demo import seed_demo


class Command(BaseCommand):
    help = "Seed demo staff (one per role) and a story-telling set of customers and orders. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_demo()
        if result.created:
            self.stdout.write(
                f"Seeded {result.customers} customers, {result.orders} orders and "
                f"{result.events} timeline events."
            )
        else:
            self.stdout.write(
                f"Demo data already present ({result.customers} customers, {result.orders} orders); "
                "nothing changed."
            )
