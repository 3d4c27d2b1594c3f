"""The failed-login lockout is per username *and client IP*, through the real login pages.

The client IP is REMOTE_ADDR, or, behind ``TRUSTED_PROXY_COUNT`` proxies, the address that many
hops from the right of X-Forwarded-For (``accounts.access.audit.client_ip``). So an attacker locks out
only themselves: the break-glass admin still signs in from elsewhere, and a forged
X-Forwarded-For neither picks the address that gets locked nor gets the attacker out of theirs.

Both password logins are walked: Django's admin form (MFA off) and, production-like, allauth's
login before its TOTP step (which also has allauth's own failed-login rate limits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.access.roles import ADMIN, sync_roles
from tests.factories import make_staff

PASSWORD = "pw-for-tests-only"
ADMIN_IP = "198.51.100.7"
ATTACKER_IP = "203.0.113.66"
LOAD_BALANCER = "10.0.0.2"
ATTACKS = 10  # more than allauth's own limits: 5 per login, 10 per minute per IP
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


def _admin_form_login(client: Client, username: str, password: str, **meta: Any) -> bool:
    """Django's /admin/login/ form (MFA off): True when the password was accepted."""
    response = client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": "/admin/"},
        **meta,
    )
    return response.status_code == 302 and response["Location"] == "/admin/"


def _allauth_login(client: Client, username: str, password: str, **meta: Any) -> bool:
    """allauth's login (production: MFA on): True when it moved on to the TOTP step."""
    response = client.post(
        reverse("account_login"), {"login": username, "password": password}, **meta
    )
    return response.status_code == 302 and response["Location"].startswith(
        reverse("mfa_authenticate")
    )


Login = Callable[..., bool]


@pytest.fixture(params=["admin-form", "allauth-mfa"])
def login(request: Any, settings: Any) -> Login:
    settings.PASSWORD_LOGIN_MAX_FAILURES = 3
    settings.PASSWORD_LOGIN_LOCKOUT_SECONDS = 600
    sync_roles()
    user = make_staff("root", role=ADMIN)
    if request.param == "allauth-mfa":
        settings.PASSWORD_LOGIN_ROLES = [ADMIN]
        settings.PASSWORD_LOGIN_REQUIRES_MFA = True
        TOTP.activate(user, generate_totp_secret())
        return _allauth_login
    return _admin_form_login


def _attack(login: Login, **meta: Any) -> None:
    attacker = Client()
    for _ in range(ATTACKS):
        assert not login(attacker, "root", "wrong", **meta)


def test_failures_from_one_ip_lock_that_ip_out_and_not_the_admin_elsewhere(
    login: Login, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0

    _attack(login, REMOTE_ADDR=ATTACKER_IP)

    assert not login(Client(), "root", PASSWORD, REMOTE_ADDR=ATTACKER_IP)  # locked out there
    assert login(Client(), "root", PASSWORD, REMOTE_ADDR=ADMIN_IP)


def test_without_trusted_proxies_a_forged_x_forwarded_for_is_ignored(
    login: Login, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0

    # The attacker names the admin's address: the lockout still lands on the attacker's own.
    _attack(login, REMOTE_ADDR=ATTACKER_IP, HTTP_X_FORWARDED_FOR=ADMIN_IP)

    assert login(Client(), "root", PASSWORD, REMOTE_ADDR=ADMIN_IP)
    # And naming another address does not get the attacker out of their lockout.
    assert not login(
        Client(), "root", PASSWORD, REMOTE_ADDR=ATTACKER_IP, HTTP_X_FORWARDED_FOR="192.0.2.1"
    )


def test_behind_one_proxy_only_the_last_hop_counts(login: Login, settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1

    # Everyone reaches us from the load balancer, which appends the address it saw; whatever
    # the attacker put in the header before that is theirs to forge.
    _attack(login, REMOTE_ADDR=LOAD_BALANCER, HTTP_X_FORWARDED_FOR=f"{ADMIN_IP}, {ATTACKER_IP}")

    assert not login(
        Client(),
        "root",
        PASSWORD,
        REMOTE_ADDR=LOAD_BALANCER,
        HTTP_X_FORWARDED_FOR=f"192.0.2.1, {ATTACKER_IP}",
    )
    assert login(
        Client(), "root", PASSWORD, REMOTE_ADDR=LOAD_BALANCER, HTTP_X_FORWARDED_FOR=ADMIN_IP
    )
    assert login(
        Client(), "root", PASSWORD, REMOTE_ADDR=LOAD_BALANCER, HTTP_X_FORWARDED_FOR="192.0.2.50"
    )
