"""allauth adapters: its login is only the break-glass password login (accounts.auth)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Staff accounts come from SSO or an admin, never from sign-up."""
        return False
