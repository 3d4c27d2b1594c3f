"""The API with OIDC bearer tokens from the real local IdP (tests/idp/oidc), and its OpenAPI docs.

An access token comes from the IdP by an authorization-code flow driven from the test; the API
checks it at the IdP's userinfo endpoint and maps the user's groups to roles, as at an SSO login.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from accounts.models import User
from accounts.oidc import _DISCOVERY_CACHE
from accounts.roles import sync_roles
from tests.accounts import test_oidc
from tests.accounts.test_oidc import (
    Idp,
    _configure,
    idp_tokens,
)
from tests.factories import make_staff

ORDERS = "/api/v1/orders/"

# The real local IdP's fixtures (tests/idp/oidc), shared with tests/accounts/test_oidc.py.
idp_process = test_oidc.idp_process
idp = test_oidc.idp


def _access_token(idp: Idp, login: str) -> str:
    """An access token the IdP issues to our client."""
    tokens, _ = idp_tokens(idp, login)
    return tokens["access_token"]


@pytest.fixture
def sso(settings: Any, idp: Idp, db: None) -> Idp:
    sync_roles()
    _configure(settings, idp)
    _DISCOVERY_CACHE.clear()
    return idp


def _get(client, token: str, path: str = ORDERS) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_real_access_token_of_a_mapped_user_reads_orders(client, sso):
    token = _access_token(sso, "fin")

    response = _get(client, token)

    assert response.status_code == 200, response.content
    assert "results" in response.json()
    user = User.objects.get(email="fin@idp.switchboard.test")
    assert user.is_staff and not user.has_usable_password()
    assert set(user.groups.values_list("name", flat=True)) == {"finance"}
    # The same token works again; no Django login happens (the API is stateless).
    assert _get(client, token).status_code == 200
    assert "_auth_user_id" not in client.session


def test_garbage_and_forged_tokens_are_401(client, sso):
    token = _access_token(sso, "sam")
    assert _get(client, "not-a-token").status_code == 401
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = _get(client, forged)
    assert response.status_code == 401
    assert client.get(ORDERS, HTTP_AUTHORIZATION="Bearer").status_code == 401
    assert client.get(ORDERS, HTTP_AUTHORIZATION="Bearer a b").status_code == 401
    assert not User.objects.filter(email="sam@idp.switchboard.test").exists()


def test_a_token_of_a_user_with_no_mapped_group_is_403(client, sso):
    """The token is genuine (so not 401), but its user has no role here: 403."""
    token = _access_token(sso, "nobody")
    response = _get(client, token)
    assert response.status_code == 403
    assert "maps to a role" in response.json()["detail"]
    assert not User.objects.filter(email="nobody@idp.switchboard.test").exists()


def test_losing_the_group_at_the_idp_takes_api_access_away(client, sso):
    token = _access_token(sso, "sam")
    assert _get(client, token).status_code == 200
    sso.set_accounts({"sam": ["some-other-app"]})
    assert _get(client, token).status_code == 403
    user = User.objects.get(email="sam@idp.switchboard.test")
    assert not user.is_staff


def test_an_unreachable_idp_answers_503_not_500(client, settings, db):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _configure(settings, Idp(issuer=f"http://127.0.0.1:{port}", accounts_file=Path()))
    _DISCOVERY_CACHE.clear()
    assert _get(client, "some-token").status_code == 503
    _DISCOVERY_CACHE.clear()


def test_bearer_tokens_are_ignored_when_sso_is_not_configured(client, settings, db):
    settings.OIDC_ENABLED = False
    response = _get(client, "some-token")
    assert response.status_code == 401  # no credentials it knows: not a 500
    sync_roles()
    staff = make_staff("session-staff", role="support")
    client.force_login(staff)
    assert client.get(ORDERS).status_code == 200  # sessions still work


# OpenAPI ---------------------------------------------------------------------------------------


def test_the_schema_documents_both_security_schemes(client, db):
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["OIDCBearer"]["type"] == "http"
    assert schemes["OIDCBearer"]["scheme"] == "bearer"
    operation = schema["paths"][ORDERS]["get"]
    assert {"ApiKey": []} in operation["security"]
    assert {"OIDCBearer": []} in operation["security"]


def test_the_interactive_docs_are_served_from_our_own_static_files(client, db):
    staff = make_staff("docs-reader")
    anonymous = client.get(reverse("api-docs"))
    assert anonymous.status_code == 302 and reverse("admin:login") in anonymous.url

    client.force_login(staff)
    page = client.get(reverse("api-docs"))

    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    assert all(url.startswith("/static/") for url in assets), assets
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert not re.search(r"https?://", html), "no external host in the docs page"
    assert '"validatorUrl": null' in html  # Swagger UI would otherwise call validator.swagger.io
    assert reverse("api-schema") in html
    for url in assets:  # shipped in our static files (collectstatic picks them up)
        assert finders.find(url.removeprefix("/static/")), url
