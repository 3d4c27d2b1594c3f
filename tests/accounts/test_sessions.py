"""Staff sessions: idle and absolute timeouts, browser-session cookies."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.access.middleware import LAST_ACTIVITY_KEY, STARTED_KEY
from accounts.models import AuditLogEntry

pytestmark = pytest.mark.django_db

IDLE = 60
ADMIN_INDEX = "/admin/"


@pytest.fixture
def signed_in(client, admin_user, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = IDLE
    client.force_login(admin_user)
    assert client.get(ADMIN_INDEX).status_code == 200
    return client


def _set(client, **values: float) -> None:
    session = client.session
    for key, value in values.items():
        session[key] = value
    session.save()


def test_defaults_come_from_settings():
    assert django_settings.SESSION_IDLE_TIMEOUT_SECONDS == 30 * 60
    assert django_settings.SESSION_COOKIE_AGE == 10 * 60 * 60
    assert django_settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True


def test_the_session_cookie_ends_with_the_browser(client, admin_user):
    response = client.post(
        "/admin/login/", {"username": "admin", "password": "pw-for-tests-only", "next": "/admin/"}
    )
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie.value
    assert not cookie["max-age"] and not cookie["expires"]


def test_an_idle_session_is_signed_out_and_sent_to_the_login_form(signed_in, admin_user):
    _set(signed_in, **{LAST_ACTIVITY_KEY: time.time() - IDLE - 5})

    response = signed_in.get(ADMIN_INDEX)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "_auth_user_id" not in signed_in.session
    assert signed_in.get(ADMIN_INDEX).status_code == 302  # still signed out
    logout = AuditLogEntry.objects.get(action=AuditLogEntry.Action.LOGOUT)
    assert logout.actor == admin_user
    assert "idle" in logout.summary


def test_activity_within_the_idle_timeout_keeps_the_session(signed_in):
    nearly_idle = time.time() - IDLE + 5
    _set(signed_in, **{LAST_ACTIVITY_KEY: nearly_idle})

    assert signed_in.get(ADMIN_INDEX).status_code == 200

    assert signed_in.session[LAST_ACTIVITY_KEY] > nearly_idle + 4  # the clock restarted
    assert "_auth_user_id" in signed_in.session
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGOUT).exists()


def test_the_absolute_age_signs_out_even_an_active_session(signed_in, settings):
    settings.SESSION_COOKIE_AGE = 3600
    _set(signed_in, **{STARTED_KEY: time.time() - 3601, LAST_ACTIVITY_KEY: time.time()})

    response = signed_in.get(ADMIN_INDEX)

    assert response.status_code == 302
    assert "_auth_user_id" not in signed_in.session
    logout = AuditLogEntry.objects.get(action=AuditLogEntry.Action.LOGOUT)
    assert "older than 3600" in logout.summary


def test_a_timed_out_api_session_gets_401_json(signed_in):
    _set(signed_in, **{LAST_ACTIVITY_KEY: time.time() - IDLE - 5})

    response = signed_in.get("/api/v1/orders/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Your session has expired."}
    assert "_auth_user_id" not in signed_in.session


def test_signing_in_restarts_both_clocks(client, admin_user):
    _set(client, **{STARTED_KEY: 1.0, LAST_ACTIVITY_KEY: 1.0})
    client.post(
        "/admin/login/", {"username": "admin", "password": "pw-for-tests-only", "next": "/admin/"}
    )
    assert client.session[STARTED_KEY] > time.time() - 60
    assert client.get(ADMIN_INDEX).status_code == 200
