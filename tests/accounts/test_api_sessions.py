"""API calls authenticated by an API key or an OIDC bearer token are stateless: no session row,
no session cookie. Only a user signed in through the session has it stamped and timed out."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.contrib.sessions.models import Session
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from accounts.access.middleware import LAST_ACTIVITY_KEY, STARTED_KEY
from accounts.models import User
from orders.models import Order
from tests.accounts import test_oidc
from tests.accounts.test_api_auth import _access_token, sso  # noqa: F401 - fixture
from tests.orders.test_api import ORDER

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"

idp_process = test_oidc.idp_process
idp = test_oidc.idp


class SessionStore(DbSessionStore):
    """A session store whose writes fail, as the database did in the incident: a request that
    saves its session answers 500 (``SESSION_ENGINE = __name__`` selects it)."""

    def save(self, must_create: bool = False) -> None:
        raise RuntimeError("session store unavailable")


@pytest.fixture(autouse=True)
def _clear_throttle_cache() -> None:
    cache.clear()


def _key_client() -> APIClient:
    _, raw = api_key_create(name="storefront", scopes=["orders:write", "orders:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _assert_stateless(response: Any) -> None:
    assert django_settings.SESSION_COOKIE_NAME not in response.cookies
    assert "Set-Cookie" not in response.headers


def test_an_api_key_order_and_listing_write_no_session_and_set_no_cookie():
    client = _key_client()

    created = client.post(ORDERS, ORDER, format="json")
    listing = client.get(ORDERS)

    assert created.status_code == 201, created.content
    assert listing.status_code == 200
    assert [o["number"] for o in listing.json()["results"]] == [created.json()["number"]]
    _assert_stateless(created)
    _assert_stateless(listing)
    assert not Session.objects.exists()


def test_an_api_key_order_is_created_even_when_sessions_cannot_be_saved(settings):
    settings.SESSION_ENGINE = __name__
    client = _key_client()

    response = client.post(ORDERS, ORDER, format="json")

    assert response.status_code == 201, response.content
    assert Order.objects.filter(number=response.json()["number"]).exists()
    assert client.get(ORDERS).status_code == 200


def test_an_admin_session_is_still_stamped_on_the_admin_and_the_api(client, admin_user, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 7200
    client.force_login(admin_user)
    session = client.session
    for name in (STARTED_KEY, LAST_ACTIVITY_KEY):
        session.pop(name, None)
    session.save()

    assert client.get("/admin/").status_code == 200
    stamped = client.session[LAST_ACTIVITY_KEY]
    assert stamped > time.time() - 60
    assert client.session[STARTED_KEY] > time.time() - 60

    session = client.session
    session[LAST_ACTIVITY_KEY] = stamped - 3600  # an hour ago, within the idle limit
    session.save()

    assert client.get(ORDERS).status_code == 200
    assert client.session[LAST_ACTIVITY_KEY] >= stamped  # the API call restarted the idle clock
    assert Session.objects.count() == 1


def test_an_api_key_call_does_not_keep_a_staff_session_alive(client, admin_user, settings):
    """A browser holding a staff session that calls with an API key is the key's request: the
    staff session's idle clock does not restart."""
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 7200
    client.force_login(admin_user)
    session = client.session
    session[LAST_ACTIVITY_KEY] = earlier = time.time() - 3600
    session.save()
    _, raw = api_key_create(name="storefront", scopes=["orders:read"])

    response = client.get(ORDERS, HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert response.status_code == 200
    assert client.session[LAST_ACTIVITY_KEY] == earlier


def test_an_oidc_bearer_token_reads_orders_without_a_session(client, sso):  # noqa: F811
    token = _access_token(sso, "fin")

    response = client.get(ORDERS, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200, response.content
    assert User.objects.filter(email="fin@idp.switchboard.test").exists()
    _assert_stateless(response)
    assert not Session.objects.exists()
