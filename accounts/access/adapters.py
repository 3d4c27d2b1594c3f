"""allauth adapters: its login is only the break-glass password login (accounts.access.auth)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.access.audit import client_ip


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Staff accounts come from SSO or an admin, never from sign-up."""
        return False

    def get_client_ip(self, request: HttpRequest) -> str:
        """The client IP the rest of the site uses (``TRUSTED_PROXY_COUNT``), so allauth's per-IP
        rate limits count clients, not the load balancer."""
        ip = client_ip(request)
        if ip is None:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth limits failed logins per login from anywhere, so anyone could lock the
        # break-glass admin out; count them per login and IP, as accounts.access.auth's lockout does.
        login = super()._get_login_attempts_cache_key(request, **credentials)
        return f"{login}|{self.get_client_ip(request)}"
