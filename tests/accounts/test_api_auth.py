"""The API with OIDC bearer tokens from the real local IdP (tests/idp/oidc), and its OpenAPI docs.

Tokens come from the IdP by an authorization-code flow driven from the test, asking for our
API's resource indicator, so the access token is an RFC 9068 JWT whose ``aud`` is our API. The
API checks it locally against the IdP's keys (no call to the IdP per request), finds the user by
``(iss, sub)`` and maps the token's groups to roles, as at an SSO login.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.staticfiles import finders
from django.urls import reverse

from accounts.access import api_auth
from accounts.access.oidc import _DISCOVERY_CACHE
from accounts.access.roles import sync_roles
from accounts.models import AuditLogEntry, SsoIdentity, User
from tests.accounts import test_oidc
from tests.accounts.test_oidc import (
    CLIENT_ID,
    Idp,
    _configure,
    idp_tokens,
)
from tests.factories import make_staff

ORDERS = "/api/v1/orders/"
API = "urn:switchboard:api"
OTHER_APP = "urn:other-app:api"

# The real local IdP's fixtures (tests/idp/oidc), shared with tests/accounts/test_oidc.py.
idp_process = test_oidc.idp_process
idp = test_oidc.idp


def _access_token(idp: Idp, login: str, resource: str = API) -> str:
    """An access token the IdP issues to our client for ``resource``."""
    tokens, _ = idp_tokens(idp, login, resource=resource)
    return tokens["access_token"]


@pytest.fixture
def sso(settings: Any, idp: Idp, db: None) -> Idp:
    sync_roles()
    _configure(settings, idp)
    settings.OIDC_API_AUDIENCE = API
    _DISCOVERY_CACHE.clear()
    api_auth._JWKS_CLIENTS.clear()
    return idp


def _get(client, token: str, path: str = ORDERS) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def _roles(email: str) -> set[str]:
    user = User.objects.get(email=email)
    return set(user.groups.values_list("name", flat=True))


def test_a_real_access_token_of_a_mapped_user_reads_orders(client, sso):
    token = _access_token(sso, "fin")
    assert token.count(".") == 2  # a JWT, checked here

    response = _get(client, token)

    assert response.status_code == 200, response.content
    assert "results" in response.json()
    user = User.objects.get(email="fin@idp.switchboard.test")
    assert user.is_staff and not user.has_usable_password()
    assert set(user.groups.values_list("name", flat=True)) == {"finance"}
    identity = SsoIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (sso.issuer, "fin")
    # The same token works again; no Django login happens (the API is stateless).
    assert _get(client, token).status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_token_is_checked_without_calling_the_idp(client, sso, monkeypatch):
    token = _access_token(sso, "fin")
    assert _get(client, token).status_code == 200  # the IdP's keys are now cached

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the API called out for a token it can check itself")

    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.setattr(requests, "post", no_network)
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    assert _get(client, token).status_code == 200


def test_a_token_the_idp_issued_for_another_app_is_401(client, sso, settings):
    """Same IdP, same user, same client even: but the token's audience is another API."""
    token = _access_token(sso, "fin", resource=OTHER_APP)
    response = _get(client, token)
    assert response.status_code == 401
    assert not User.objects.filter(email="fin@idp.switchboard.test").exists()
    # The audience is the only thing wrong with it: an API whose audience it names accepts it.
    settings.OIDC_API_AUDIENCE = OTHER_APP
    assert _get(client, token).status_code == 200


def test_an_opaque_token_and_an_id_token_are_401(client, sso, settings):
    tokens, _ = idp_tokens(sso, "fin")  # no resource: an opaque token for userinfo
    assert tokens["access_token"].count(".") != 2
    assert _get(client, tokens["access_token"]).status_code == 401
    # An ID token is a JWT for our client id; with the client id as the API audience it still
    # is not an access token (typ), so it is refused.
    settings.OIDC_API_AUDIENCE = CLIENT_ID
    assert _get(client, tokens["id_token"]).status_code == 401
    assert not User.objects.filter(email="fin@idp.switchboard.test").exists()


def test_garbage_and_forged_tokens_are_401(client, sso):
    token = _access_token(sso, "sam")
    assert _get(client, "not-a-token").status_code == 401
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["groups"] = ["switchboard-admin"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _get(client, f"{header}.{forged_payload}.{signature}").status_code == 401
    assert (
        _get(client, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")).status_code
        == 401
    )
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
    """A token states the groups when it was issued (it lives 10 minutes at this IdP). The next
    token after the IdP drops the group takes access away, and from then on the older token
    cannot bring it back; a token issued after the IdP restores the group can."""
    old = _access_token(sso, "sam")
    assert _get(client, old).status_code == 200
    time.sleep(1.1)  # token times are in whole seconds
    sso.set_accounts({"sam": ["some-other-app"]})
    assert _get(client, _access_token(sso, "sam")).status_code == 403
    user = User.objects.get(email="sam@idp.switchboard.test")
    assert not user.is_staff
    assert _get(client, old).status_code == 403  # older than the IdP's last word
    user.refresh_from_db()
    assert not user.is_staff

    time.sleep(1.1)
    sso.set_accounts({"sam": ["switchboard-support"]})
    assert _get(client, _access_token(sso, "sam")).status_code == 200
    assert _roles("sam@idp.switchboard.test") == {"support"}
    changes = [
        e.changes["roles"]
        for e in AuditLogEntry.objects.filter(action="sso_roles_changed").order_by("id")
    ]
    assert changes == [[[], ["support"]], [["support"], []], [[], ["support"]]]


def test_a_token_with_an_unverified_email_does_not_take_over_an_account(client, sso):
    boss = make_staff("boss", role="admin")  # boss@switchboard.test
    sso.set_accounts(
        {
            "boss": {
                "groups": ["switchboard-support"],
                "email": "BOSS@switchboard.test",
                "email_verified": False,
            }
        }
    )
    token = _access_token(sso, "boss")

    assert _get(client, token).status_code == 401

    boss.refresh_from_db()
    assert set(boss.groups.values_list("name", flat=True)) == {"admin"}
    assert not SsoIdentity.objects.exists()
    assert User.objects.filter(email__iexact="boss@switchboard.test").count() == 1


def test_an_unreachable_idp_answers_503_not_500(client, settings, db):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _configure(settings, Idp(issuer=f"http://127.0.0.1:{port}", accounts_file=Path()))
    _DISCOVERY_CACHE.clear()
    api_auth._JWKS_CLIENTS.clear()

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    # Well-formed (so it needs the IdP's keys), though no IdP signed it.
    header = b64({"alg": "RS256", "typ": "at+jwt", "kid": "k1"})
    token = f"{header}.{b64({'sub': 'x'})}.c2ln"
    assert _get(client, token).status_code == 503
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
    # The start-up script is the docs view's own (?script): no inline script under the CSP.
    assert all(url.startswith("/static/") for url in assets if url != "/api/docs/?script="), assets
    assert "/api/docs/?script=" in assets
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert not re.search(r"https?://", html), "no external host in the docs page"
    start_up = client.get("/api/docs/?script=").content.decode()
    assert not re.search(r"https?://", start_up), "no external host in the start-up script"
    # Swagger UI would otherwise call validator.swagger.io
    assert '"validatorUrl": null' in start_up
    assert reverse("api-schema") in start_up
    for url in assets:  # shipped in our static files (collectstatic picks them up)
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), url
