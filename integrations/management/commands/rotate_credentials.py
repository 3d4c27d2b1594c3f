"""``manage.py rotate_credentials``: re-encrypt every stored provider credential with the first
key of ``CREDENTIALS_KEYS``. Run it after putting a new key first; then the old keys can go."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.credentials import credentials_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored provider credential with the first key of CREDENTIALS_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        count = credentials_rotate()
        self.stdout.write(f"Re-encrypted {count} credential(s) with the first key.")
