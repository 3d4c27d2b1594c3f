from typing import Any

from django.core.management.base import BaseCommand

from accounts.access.roles import sync_roles


class Command(BaseCommand):
    help = "Create or update the staff role groups (support, sales, finance, ops, admin)."

    def handle(self, *args: Any, **options: Any) -> None:
        for role, count in sync_roles().items():
            self.stdout.write(f"{role}: {count} permissions")
