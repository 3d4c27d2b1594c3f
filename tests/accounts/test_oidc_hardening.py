"""OIDC hardening against the real local IdP (tests/idp/oidc): the issuer is always checked,
staff are matched by the IdP's ``sub`` (an unverified e-mail never links to an account), role
changes at login are audited, and logging out ends the session at the IdP too."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
import requests
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation

from accounts.access.oidc import _DISCOVERY_CACHE, StaffOIDCBackend
from accounts.access.roles import ADMIN, sync_roles
from accounts.models import AuditLogEntry, SsoIdentity, User
from config.settings.oidc import check_oidc_settings
from tests.accounts import test_oidc
from tests.accounts.test_oidc import (
    CLIENT_ID,
    DEFAULT_ACCOUNTS,
    Idp,
    _configure,
    _form_action,
    _real_id_token,
    _roles,
    sso_login,
)
from tests.factories import make_staff

idp_process = test_oidc.idp_process
idp = test_oidc.idp
make_server = test_oidc.make_server

A = AuditLogEntry.Action
ROOT = Path(__file__).resolve().parents[2]
transactional = pytest.mark.django_db(transaction=True)


# --- the issuer -------------------------------------------------------------------------------


def test_hand_set_endpoints_need_an_issuer():
    with pytest.raises(ImproperlyConfigured, match="OIDC_OP_ISSUER is required"):
        check_oidc_settings(client_id="switchboard", discovery_url="", issuer="")
    check_oidc_settings(client_id="switchboard", discovery_url="", issuer="https://idp.test")
    check_oidc_settings(
        client_id="switchboard",
        discovery_url="https://idp.test/.well-known/openid-configuration",
        issuer="",
    )


def _manage_check(**env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "OIDC_RP_CLIENT_ID": "switchboard",
            "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.test/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": "https://idp.test/token",
            "OIDC_OP_USER_ENDPOINT": "https://idp.test/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": "https://idp.test/jwks",
            **env_overrides,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_start_up_refuses_hand_set_endpoints_without_an_issuer():
    refused = _manage_check()
    assert refused.returncode != 0
    assert "OIDC_OP_ISSUER is required" in refused.stderr

    accepted = _manage_check(OIDC_OP_ISSUER="https://idp.test")
    assert accepted.returncode == 0, accepted.stderr


def test_without_a_known_issuer_a_genuine_id_token_is_refused(settings, idp):
    """Discovery gone (or never configured) and no OIDC_OP_ISSUER: the token's issuer cannot be
    checked, so even the IdP's own genuine token is refused rather than accepted unchecked."""
    _configure(settings, idp)
    _DISCOVERY_CACHE.clear()
    discovery = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=30).json()
    token, nonce = _real_id_token(idp, "sam")
    assert StaffOIDCBackend().verify_token(token, nonce=nonce)["iss"] == idp.issuer  # control

    settings.OIDC_OP_DISCOVERY_URL = ""
    settings.OIDC_OP_JWKS_ENDPOINT = discovery["jwks_uri"]
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = discovery["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = discovery["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = discovery["userinfo_endpoint"]
    with pytest.raises(SuspiciousOperation, match="issuer is unknown"):
        StaffOIDCBackend().verify_token(token, nonce=nonce)


@pytest.fixture
def foreign_discovery(idp: Idp) -> Iterator[str]:
    """The IdP's real discovery document, served from another origin (a mix-up: a document
    read under one URL naming another issuer)."""
    document = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=30).content

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/openid-configuration"
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_a_discovery_document_naming_another_issuer_is_not_used(
    client, settings, idp, foreign_discovery
):
    _configure(settings, idp)
    _DISCOVERY_CACHE.clear()
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    assert start["Location"].startswith(idp.issuer)  # control: the IdP's own URL works

    settings.OIDC_OP_DISCOVERY_URL = foreign_discovery
    _DISCOVERY_CACHE.clear()
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    assert start["Location"] == "/sso/no-access/"
    assert "cannot be reached" in client.get("/sso/no-access/").content.decode()
    _DISCOVERY_CACHE.clear()


# --- who is who ---------------------------------------------------------------------------------


@transactional
def test_staff_are_matched_by_the_idp_subject_not_by_email(make_server, idp):
    base_url = make_server()
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "sam").url == f"{base_url}/admin/"
    sam = User.objects.get(username="sam")
    identity = SsoIdentity.objects.get(user=sam)
    assert (identity.issuer, identity.subject) == (idp.issuer, "sam")

    # The IdP changes sam's address: the same account (found by sub), its e-mail updated.
    new_email = "samuel@idp.switchboard.test"
    idp.set_accounts(
        {**DEFAULT_ACCOUNTS, "sam": {"groups": ["switchboard-support"], "email": new_email}}
    )
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "sam").url == f"{base_url}/admin/"
    sam.refresh_from_db()
    assert sam.email == new_email
    assert User.objects.count() == 1

    # Another subject of the IdP with that (verified) address does not get sam's account.
    idp.set_accounts(
        {
            **DEFAULT_ACCOUNTS,
            "sam": {"groups": ["switchboard-support"], "email": new_email},
            "intruder": {"groups": ["switchboard-admin"], "email": new_email.upper()},
        }
    )
    with requests.Session() as http:
        final = sso_login(http, base_url, idp, "intruder")
        assert final.status_code == 403
        assert "could not be verified" in final.text
    assert User.objects.count() == 1
    assert _roles(sam) == {"support"}
    assert SsoIdentity.objects.count() == 1


@transactional
@pytest.mark.parametrize("verified", [False, None])
@pytest.mark.parametrize("groups", [["switchboard-admin"], ["some-other-app"]])
def test_an_unverified_email_never_links_to_an_existing_account(make_server, idp, verified, groups):
    """``email_verified`` false or empty: no link to the account with that e-mail, whose roles
    stay as they are (a statement about someone else's address cannot take them away either)."""
    sync_roles()
    boss = make_staff("boss", role=ADMIN)  # boss@switchboard.test
    idp.set_accounts(
        {"boss": {"groups": groups, "email": "Boss@switchboard.test", "email_verified": verified}}
    )
    base_url = make_server()
    with requests.Session() as http:
        final = sso_login(http, base_url, idp, "boss")
        assert final.status_code == 403
        assert final.url == f"{base_url}/sso/no-access/"
        assert "could not be verified" in final.text
    boss.refresh_from_db()
    assert boss.is_staff
    assert _roles(boss) == {ADMIN}
    assert not SsoIdentity.objects.exists()
    assert User.objects.count() == 1
    assert not AuditLogEntry.objects.filter(action__startswith="sso_").exists()


@transactional
def test_a_verified_email_links_a_first_login_to_the_existing_account(make_server, idp):
    boss = make_staff("boss-local", role=ADMIN)
    idp.set_accounts({"boss": {"groups": ["switchboard-finance"], "email": boss.email}})
    base_url = make_server()
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "boss").url == f"{base_url}/admin/"
    assert SsoIdentity.objects.get().user == boss
    assert _roles(boss) == {"finance"}
    linked = AuditLogEntry.objects.get(action=A.SSO_IDENTITY_LINKED)
    assert linked.object_id == str(boss.pk)
    assert linked.changes["subject"] == [None, "boss"]


@transactional
def test_role_changes_at_sso_login_are_audited(make_server, idp):
    base_url = make_server()

    def login() -> None:
        with requests.Session() as http:
            sso_login(http, base_url, idp, "sam")

    def role_changes() -> list[dict[str, Any]]:
        return [
            e.changes
            for e in AuditLogEntry.objects.filter(action=A.SSO_ROLES_CHANGED).order_by("id")
        ]

    login()
    sam = User.objects.get(username="sam")
    assert role_changes() == [{"roles": [[], ["support"]], "is_staff": [False, True]}]
    entry = AuditLogEntry.objects.get(action=A.SSO_ROLES_CHANGED)
    assert (entry.object_id, entry.actor_label) == (str(sam.pk), "idp:oidc")

    login()  # the same groups: nothing changes, nothing is recorded
    assert len(role_changes()) == 1

    idp.set_accounts({**DEFAULT_ACCOUNTS, "sam": ["switchboard-finance", "switchboard-ops"]})
    login()
    idp.set_accounts({**DEFAULT_ACCOUNTS, "sam": ["some-other-app"]})
    login()
    assert role_changes()[1:] == [
        {"roles": [["support"], ["finance", "ops"]]},
        {"roles": [["finance", "ops"], []], "is_staff": [True, False]},
    ]


# --- logout --------------------------------------------------------------------------------------


def _idp_session_alive(http: requests.Session, idp: Idp) -> bool:
    """Whether the browser still has a session at the IdP: an authorization request with
    ``prompt=none`` comes back with a code, not ``login_required``."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = "http://127.0.0.1:9/oidc/callback/"
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "prompt": "none",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    response = http.get(f"{idp.issuer}/auth?{urlencode(params)}", allow_redirects=False, timeout=30)
    while not response.headers["Location"].startswith(redirect_uri):
        response = http.get(response.headers["Location"], allow_redirects=False, timeout=30)
    query = parse_qs(urlparse(response.headers["Location"]).query)
    assert "code" in query or query.get("error") == ["login_required"], query
    return "code" in query


def _post_logout(http: requests.Session, base_url: str) -> requests.Response:
    http.get(f"{base_url}/admin/", timeout=30)
    return http.post(
        f"{base_url}/admin/logout/",
        data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=30,
    )


@transactional
def test_logout_ends_the_session_at_the_idp_too(make_server, idp):
    base_url = make_server()
    discovery = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=30).json()
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "sam").url == f"{base_url}/admin/"
        assert _idp_session_alive(http, idp)  # control

        response = _post_logout(http, base_url)

        # Signed out here at once; the browser goes to the IdP's end-session endpoint with our
        # ID token as the hint and our signed-out page to come back to.
        assert response.status_code == 302
        location = urlparse(response.headers["Location"])
        assert response.headers["Location"].startswith(discovery["end_session_endpoint"])
        query = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert query["post_logout_redirect_uri"] == f"{base_url}/sso/signed-out/"
        hint = jwt.decode(query["id_token_hint"], options={"verify_signature": False})
        assert (hint["sub"], hint["aud"]) == ("sam", CLIENT_ID)
        assert http.get(f"{base_url}/admin/", allow_redirects=False, timeout=30).status_code == 302

        # The IdP asks "sign out?"; yes: it ends its session and sends the browser back.
        confirm = http.get(response.headers["Location"], timeout=30)
        assert confirm.status_code == 200
        action = _form_action(confirm.text, "/session/end/confirm")
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', confirm.text)
        assert xsrf is not None
        back = http.post(
            action if action.startswith("http") else f"{idp.issuer}{action}",
            data={"xsrf": xsrf.group(1), "logout": "yes"},
            timeout=30,
        )
        assert back.url == f"{base_url}/sso/signed-out/"
        assert back.status_code == 200
        assert "signed out of Switchboard and of your identity provider" in back.text
        assert not _idp_session_alive(http, idp)
    logout = AuditLogEntry.objects.get(action=A.LOGOUT)
    assert logout.actor == User.objects.get(username="sam")
    assert "identity provider" in logout.summary


@transactional
def test_logout_of_a_password_session_stays_local(make_server, idp):
    User.objects.create_user("local", password="pw-for-tests-only", is_staff=True)
    base_url = make_server()
    with requests.Session() as http:
        http.get(f"{base_url}/admin/login/", timeout=30)
        http.post(
            f"{base_url}/admin/login/?next=/admin/",
            data={
                "username": "local",
                "password": "pw-for-tests-only",
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
                "next": "/admin/",
            },
            timeout=30,
        )
        response = _post_logout(http, base_url)
        assert response.status_code == 200  # the admin's own "logged out" page
        assert http.get(f"{base_url}/admin/", allow_redirects=False, timeout=30).status_code == 302


def test_the_signed_out_page_renders(client, db):
    page = client.get("/sso/signed-out/")
    assert page.status_code == 200
    assert "signed out of Switchboard" in page.content.decode()
