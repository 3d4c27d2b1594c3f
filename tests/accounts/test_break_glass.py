"""Break-glass password login (accounts.access.auth, config/settings/security.py), through real flows.

Production-like: only admins sign in with a password, through allauth's login and then a TOTP
code. Everywhere: failed password logins lock a username+IP out for a while.
"""

from __future__ import annotations

from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.access.roles import ADMIN, FINANCE, ROLES, sync_roles
from accounts.models import AuditLogEntry, User
from tests.factories import make_staff

PASSWORD = "pw-for-tests-only"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def production(settings: Any) -> Any:
    settings.PASSWORD_LOGIN_ROLES = [ADMIN]
    settings.PASSWORD_LOGIN_REQUIRES_MFA = True
    settings.PASSWORD_LOGIN_MAX_FAILURES = 3
    settings.PASSWORD_LOGIN_LOCKOUT_SECONDS = 600
    return settings


def _totp_code(secret: str, offset: int = 0) -> str:
    counters = list(yield_hotp_counters_from_time())
    current = counters[len(counters) // 2]
    return format_hotp_value(hotp_value(secret, current + offset))


def _admin_with_totp(username: str = "root") -> tuple[User, str]:
    user = make_staff(username, role=ADMIN)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return user, secret


def _password_step(client: Client, username: str, password: str = PASSWORD) -> Any:
    """Open /admin/login/ (redirected to allauth's login) and post the password there."""
    response = client.get(reverse("admin:login") + "?next=/admin/")
    assert response.status_code == 302
    login_url = response["Location"]
    assert login_url.startswith(reverse("account_login"))
    return client.post(login_url, {"login": username, "password": password})


def _is_signed_in(client: Client) -> bool:
    return client.get(reverse("admin:index")).status_code == 200


# --- production-like ----------------------------------------------------------------------


def test_admin_with_totp_signs_in_with_password_then_code(production: Any) -> None:
    sync_roles()
    user, secret = _admin_with_totp()
    client = Client()
    response = _password_step(client, user.username)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_authenticate"))
    assert not _is_signed_in(client)  # not before the code

    response = client.post(reverse("mfa_authenticate"), {"code": _totp_code(secret)})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert _is_signed_in(client)
    assert AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGIN, actor=user).exists()


def test_a_wrong_totp_code_is_refused(production: Any) -> None:
    sync_roles()
    user, secret = _admin_with_totp()
    client = Client()
    _password_step(client, user.username)
    wrong = _totp_code(secret, offset=10)
    response = client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert response.status_code == 200  # the form again, with an error
    assert not _is_signed_in(client)


def test_an_admin_without_totp_cannot_sign_in(production: Any) -> None:
    sync_roles()
    user = make_staff("root", role=ADMIN)
    client = Client()
    response = _password_step(client, user.username)
    assert response.status_code == 200  # the login form again
    assert not _is_signed_in(client)
    assert not client.login(username="root", password=PASSWORD)


def test_a_finance_user_cannot_sign_in_with_a_password(production: Any) -> None:
    sync_roles()
    user = make_staff("fin", role=FINANCE)
    TOTP.activate(user, generate_totp_secret())  # even with a TOTP authenticator
    client = Client()
    response = _password_step(client, user.username)
    assert response.status_code == 200
    assert not _is_signed_in(client)
    assert AuditLogEntry.objects.filter(
        action=AuditLogEntry.Action.LOGIN_FAILED, actor_label="fin"
    ).exists()


def test_a_superuser_counts_as_admin(production: Any) -> None:
    user = User.objects.create_superuser("boss", "boss@switchboard.test", PASSWORD)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    client = Client()
    assert _password_step(client, "boss")["Location"].startswith(reverse("mfa_authenticate"))
    client.post(reverse("mfa_authenticate"), {"code": _totp_code(secret)})
    assert _is_signed_in(client)


def test_failed_passwords_lock_the_login_out_for_the_window(production: Any) -> None:
    sync_roles()
    user, _ = _admin_with_totp()
    client = Client()
    for _ in range(production.PASSWORD_LOGIN_MAX_FAILURES):
        assert _password_step(client, user.username, "wrong").status_code == 200
    response = _password_step(client, user.username)  # the right password
    assert response.status_code == 200
    assert not response.get("Location", "").startswith(reverse("mfa_authenticate"))
    assert not _is_signed_in(client)

    cache.clear()  # the window is over
    response = _password_step(client, user.username)
    assert response["Location"].startswith(reverse("mfa_authenticate"))


def test_sign_up_is_closed(production: Any) -> None:
    response = Client().post(
        reverse("account_signup"),
        {"username": "new", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="new").exists()


# --- local / demo: the plain admin login ------------------------------------------------------


def test_local_every_role_signs_in_with_a_password_on_the_admin_form(settings: Any) -> None:
    settings.PASSWORD_LOGIN_ROLES = list(ROLES)
    settings.PASSWORD_LOGIN_REQUIRES_MFA = False
    sync_roles()
    for role in ROLES:
        make_staff(f"demo-{role}", role=role)
        client = Client()
        response = client.post(
            reverse("admin:login"),
            {"username": f"demo-{role}", "password": PASSWORD, "next": "/admin/"},
        )
        assert response.status_code == 302, role
        assert _is_signed_in(client), role


def test_local_roles_setting_still_restricts(settings: Any) -> None:
    settings.PASSWORD_LOGIN_ROLES = [ADMIN]
    settings.PASSWORD_LOGIN_REQUIRES_MFA = False
    sync_roles()
    make_staff("fin", role=FINANCE)
    make_staff("root", role=ADMIN)
    assert not Client().login(username="fin", password=PASSWORD)
    assert Client().login(username="root", password=PASSWORD)


def test_local_admin_form_locks_out_after_failures(settings: Any) -> None:
    settings.PASSWORD_LOGIN_REQUIRES_MFA = False
    settings.PASSWORD_LOGIN_MAX_FAILURES = 3
    sync_roles()
    make_staff("sup", role="support")
    client = Client()
    url = reverse("admin:login")
    for _ in range(3):
        client.post(url, {"username": "sup", "password": "wrong"})
    response = client.post(url, {"username": "sup", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 200  # refused although the password is right
    assert not _is_signed_in(client)
    assert Authenticator.objects.count() == 0


def test_async_authenticate_applies_the_same_rules(production: Any) -> None:
    from asgiref.sync import async_to_sync
    from django.contrib.auth import aauthenticate

    sync_roles()
    make_staff("fin", role=FINANCE)
    _admin_with_totp()
    assert async_to_sync(aauthenticate)(None, username="fin", password=PASSWORD) is None
    assert async_to_sync(aauthenticate)(None, username="root", password=PASSWORD) is not None


def test_the_login_page_offers_sso_and_no_sign_up(production: Any) -> None:
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    page = Client().get(reverse("account_login") + "?next=/admin/").content.decode()
    assert 'name="login"' in page and 'name="password"' in page
    assert reverse("account_signup") not in page
    assert "Sign in with SSO" not in page  # SSO is not configured in tests

    request = RequestFactory().get("/accounts/login/")
    request.sso_enabled = True  # type: ignore[attr-defined]  # as accounts.access.oidc.SSOSessionRecheck
    with_sso = render_to_string(
        "account/login.html", {"redirect_field_value": "/admin/"}, request=request
    )
    assert "Sign in with SSO" in with_sso
    assert reverse("oidc_authentication_init") + "?next=/admin/" in with_sso
