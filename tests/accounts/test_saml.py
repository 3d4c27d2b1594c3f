"""Staff SSO over SAML against a real pysaml2 identity provider on loopback (tests/idp/saml).

The IdP is a WSGI app in a thread (``saml2.server.Server``, assertions signed with a key made at
start-up); each test drives the whole flow with requests against Django's live server: the SP's
login (confirmation form), the HTTP-Redirect AuthnRequest, the IdP's login form, the auto-POST
Response to the ACS, the session and the admin.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import Group
from lxml import etree  # type: ignore[import-untyped]
from pytest_django.live_server_helper import LiveServer

from accounts.access.roles import ADMIN, FINANCE, SUPPORT, sync_roles
from accounts.models import AuditLogEntry, User
from config.settings.saml import saml_app, saml_providers
from tests.idp.saml.idp import PASSWORD, SamlIdp

SLUG = "switchboard"
SP_ENTITY_ID = "https://switchboard.test/saml/sp"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"

DEFAULT_ACCOUNTS = {
    "sam": ["switchboard-support"],
    "fin": ["switchboard-finance", "unrelated"],
    "nobody": ["some-other-app"],
}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def saml_idp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    idp = SamlIdp(workdir=Path(tmp_path_factory.mktemp("saml-idp")))
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()


def _configure(settings: Any, idp: SamlIdp, **options: Any) -> None:
    """SAML in Django's settings for ``idp`` (``options``: saml_app's, e.g. emails_verified)."""
    settings.SOCIALACCOUNT_PROVIDERS = saml_providers(
        [
            saml_app(
                idp_entity_id=idp.entity_id,
                idp_sso_url=idp.sso_url,
                idp_x509_cert=idp.cert_pem,
                sp_entity_id=SP_ENTITY_ID,
                slug=SLUG,
                **{"idp_slo_url": idp.slo_url, **options},
            )
        ]
    )


@pytest.fixture
def saml_idp(saml_idp_server: SamlIdp, settings: Any, live_server: LiveServer) -> SamlIdp:
    """The IdP, configured in Django's settings and trusting this live server's SP metadata."""
    _configure(settings, saml_idp_server)
    saml_idp_server.mode = "normal"
    saml_idp_server.accounts = dict(DEFAULT_ACCOUNTS)
    saml_idp_server.logouts.clear()
    metadata = requests.get(f"{live_server.url}/accounts/saml/{SLUG}/metadata/", timeout=10)
    assert metadata.status_code == 200, metadata.text
    saml_idp_server.trust_sp(metadata.text)
    return saml_idp_server


def _hidden(page: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in fields}


def _saml_login(live_server: LiveServer, idp: SamlIdp, login: str) -> tuple[requests.Session, Any]:
    """The whole SP-initiated flow; returns the browser session and the final response."""
    browser = requests.Session()
    start = f"{live_server.url}/accounts/saml/{SLUG}/login/?next=/admin/"
    # 1. our login page: a confirmation form (no login on GET), POSTed with the CSRF token
    page = browser.get(start, timeout=10)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    to_idp = browser.post(
        start,
        data={"csrfmiddlewaretoken": token.group(1), "next": "/admin/"},
        headers={"Referer": start},
        allow_redirects=False,
        timeout=10,
    )
    assert to_idp.status_code == 302, to_idp.text
    location = to_idp.headers["Location"]
    # 2. HTTP-Redirect binding to the IdP, which shows its sign-in form
    assert location.startswith(idp.sso_url + "?")
    assert "SAMLRequest=" in location
    form = browser.get(location, timeout=10)
    assert form.status_code == 200
    assert 'name="password"' in form.text
    # 3. sign in at the IdP: it answers with an auto-POST form to our ACS
    answer = browser.post(
        idp.sso_url,
        data={**_hidden(form.text), "username": login, "password": PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)" id="saml-post">', answer.text)
    assert action is not None
    acs = html.unescape(action.group(1))
    assert acs == f"{live_server.url}/accounts/saml/{SLUG}/acs/"
    # 4. HTTP-POST binding back to the ACS, then allauth's redirects
    final = browser.post(acs, data=_hidden(answer.text), timeout=10)
    return browser, final


def _has_admin_session(live_server: LiveServer, browser: requests.Session) -> bool:
    response = browser.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10)
    return response.status_code == 200


def _assert_refused(live_server: LiveServer, browser: requests.Session, final: Any) -> None:
    assert final.url == f"{live_server.url}/sso/no-access/"
    assert final.status_code == 403
    assert not _has_admin_session(live_server, browser)


def test_sp_metadata_names_the_acs(saml_idp: SamlIdp, live_server: LiveServer) -> None:
    response = requests.get(f"{live_server.url}/accounts/saml/{SLUG}/metadata/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    assert root.get("entityID") == SP_ENTITY_ID
    sp = root.find(f"{{{MD_NS}}}SPSSODescriptor")
    assert sp is not None
    assert sp.get("WantAssertionsSigned") == "true"
    acs = sp.find(f"{{{MD_NS}}}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == f"{live_server.url}/accounts/saml/{SLUG}/acs/"
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def test_saml_urls_404_when_not_configured(live_server: LiveServer, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {"saml": {"APPS": []}}
    response = requests.get(f"{live_server.url}/accounts/saml/{SLUG}/metadata/", timeout=10)
    assert response.status_code == 404


def test_login_page_offers_saml(saml_idp: SamlIdp, client: Any) -> None:
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert "Sign in with SAML" in page.content.decode()
    assert f"/accounts/saml/{SLUG}/login/" in page.content.decode()


def test_admin_login_page_offers_saml_only_when_configured(
    saml_idp_server: SamlIdp, settings: Any, client: Any
) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = saml_providers([])
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert "Sign in with SAML" not in page
    assert "/accounts/saml/" not in page

    _configure(settings, saml_idp_server)
    page = client.get("/admin/login/?next=/admin/").content.decode()
    assert "Sign in with SAML" in page
    assert f'href="/accounts/saml/{SLUG}/login/?next=%2Fadmin%2F"' in page


def test_full_login_maps_groups_to_roles(saml_idp: SamlIdp, live_server: LiveServer) -> None:
    sync_roles()  # the roles' permissions (a transactional test starts from an empty database)
    browser, final = _saml_login(live_server, saml_idp, "fin")
    assert final.status_code == 200
    assert final.url == f"{live_server.url}/admin/"
    assert _has_admin_session(live_server, browser)
    user = User.objects.get(email="fin@idp.switchboard.test")
    assert user.is_staff
    assert not user.has_usable_password()
    assert set(user.groups.values_list("name", flat=True)) == {FINANCE}
    assert SocialAccount.objects.get(user=user).provider == "saml"
    # the role's rights hold: finance sees payments
    payments = browser.get(
        f"{live_server.url}/admin/payments/payment/", allow_redirects=False, timeout=10
    )
    assert payments.status_code == 200


def test_roles_follow_the_idp_on_every_login(
    saml_idp: SamlIdp, live_server: LiveServer, settings: Any
) -> None:
    """An existing user (matched by e-mail, which this IdP vouches for) gets exactly the roles
    their IdP groups map to."""
    _configure(settings, saml_idp, emails_verified=True)
    user = User.objects.create_user(username="sam-local", email="sam@idp.switchboard.test")
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    browser, final = _saml_login(live_server, saml_idp, "sam")
    assert final.url == f"{live_server.url}/admin/"
    user.refresh_from_db()
    assert user.is_staff
    assert set(user.groups.values_list("name", flat=True)) == {SUPPORT}
    assert SocialAccount.objects.filter(user=user).count() == 1
    # the IdP drops the group: the next login is refused and the roles go
    saml_idp.accounts["sam"] = ["some-other-app"]
    browser, final = _saml_login(live_server, saml_idp, "sam")
    _assert_refused(live_server, browser, final)
    assert "not in any group" in final.text
    user.refresh_from_db()
    assert not user.is_staff
    assert not user.groups.exists()


def test_unmapped_group_is_refused(saml_idp: SamlIdp, live_server: LiveServer) -> None:
    browser, final = _saml_login(live_server, saml_idp, "nobody")
    _assert_refused(live_server, browser, final)
    assert "not in any group" in final.text
    assert not User.objects.filter(email="nobody@idp.switchboard.test").exists()


@pytest.mark.parametrize(
    ("mode", "login"),
    [
        ("unsigned", "sam"),
        # the signed assertion said "some-other-app"; it now says "switchboard-admin"
        ("tamper_groups", "nobody"),
        ("tamper_nameid", "sam"),
        ("wrong_audience", "sam"),
        # IdP-initiated (no InResponseTo): refused
        ("unsolicited", "sam"),
    ],
)
def test_bad_assertions_are_refused(
    saml_idp: SamlIdp, live_server: LiveServer, mode: str, login: str
) -> None:
    saml_idp.mode = mode
    browser, final = _saml_login(live_server, saml_idp, login)
    _assert_refused(live_server, browser, final)
    assert "could not be verified" in final.text
    assert not User.objects.filter(email=f"{login}@idp.switchboard.test").exists()
    assert not User.objects.filter(groups__name=ADMIN).exists()


def test_replayed_response_is_refused(saml_idp: SamlIdp, live_server: LiveServer) -> None:
    """A valid signed Response for a login started in another browser is refused."""
    browser, _ = _saml_login(live_server, saml_idp, "sam")
    assert _has_admin_session(live_server, browser)
    # replay the IdP's answer into a fresh browser: no matching request state there
    fresh = requests.Session()
    start = f"{live_server.url}/accounts/saml/{SLUG}/login/?next=/admin/"
    page = browser.get(start, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    to_idp = browser.post(
        start,
        data={"csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": start},
        allow_redirects=False,
        timeout=10,
    )
    form = browser.get(to_idp.headers["Location"], timeout=10)
    answer = browser.post(
        saml_idp.sso_url,
        data={**_hidden(form.text), "username": "sam", "password": PASSWORD},
        timeout=10,
    )
    fields = _hidden(answer.text)
    fields["RelayState"] = "/admin/"
    final = fresh.post(f"{live_server.url}/accounts/saml/{SLUG}/acs/", data=fields, timeout=10)
    # allauth finds no login of ours that this Response answers: 403, no session
    assert final.status_code == 403
    assert not _has_admin_session(live_server, fresh)


# --- hardening: e-mail linking, audited roles, session length, single logout -------------------


def test_an_unverified_email_never_links_to_an_existing_account(
    saml_idp: SamlIdp, live_server: LiveServer
) -> None:
    """The IdP asserts an e-mail without saying it is verified (and is not configured as
    vouching for its e-mails): the existing account with that e-mail is left alone."""
    boss = User.objects.create_user(username="boss", email="SAM@idp.switchboard.test")
    boss.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    boss.is_staff = True
    boss.save()

    browser, final = _saml_login(live_server, saml_idp, "sam")

    _assert_refused(live_server, browser, final)
    assert "could not be verified" in final.text
    boss.refresh_from_db()
    assert boss.is_staff
    assert set(boss.groups.values_list("name", flat=True)) == {ADMIN}
    assert not SocialAccount.objects.exists()
    assert User.objects.count() == 1


def test_a_first_login_with_no_matching_account_still_creates_one(
    saml_idp: SamlIdp, live_server: LiveServer
) -> None:
    _, final = _saml_login(live_server, saml_idp, "sam")
    assert final.url == f"{live_server.url}/admin/"
    assert SocialAccount.objects.get().user.email == "sam@idp.switchboard.test"


def test_role_changes_at_saml_login_are_audited(saml_idp: SamlIdp, live_server: LiveServer) -> None:
    _saml_login(live_server, saml_idp, "fin")
    user = User.objects.get(email="fin@idp.switchboard.test")
    [entry] = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.SSO_ROLES_CHANGED)
    assert entry.object_id == str(user.pk)
    assert entry.actor_label == "idp:saml"
    assert entry.changes == {"roles": [[], [FINANCE]], "is_staff": [False, True]}

    _saml_login(live_server, saml_idp, "fin")  # same groups: nothing changes, nothing recorded
    assert AuditLogEntry.objects.filter(action=AuditLogEntry.Action.SSO_ROLES_CHANGED).count() == 1

    saml_idp.accounts["fin"] = ["switchboard-support"]
    _saml_login(live_server, saml_idp, "fin")
    latest = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.SSO_ROLES_CHANGED).first()
    assert latest is not None
    assert latest.changes == {"roles": [[FINANCE], [SUPPORT]]}


def test_saml_sessions_end_after_the_sso_recheck_interval(
    saml_idp: SamlIdp, live_server: LiveServer, settings: Any
) -> None:
    """As OIDC sessions go back to the IdP every OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS, a SAML
    session ends after SAML_SESSION_MAX_SECONDS and the browser is sent through the IdP again,
    where the groups are stated anew."""
    settings.SAML_SESSION_MAX_SECONDS = 2
    browser, _ = _saml_login(live_server, saml_idp, "fin")
    assert _has_admin_session(live_server, browser)

    time.sleep(2.2)
    page = browser.get(f"{live_server.url}/admin/", allow_redirects=False, timeout=10)

    assert page.status_code == 302
    assert page.headers["Location"] == f"/accounts/saml/{SLUG}/login/?next=%2Fadmin%2F"
    assert not _has_admin_session(live_server, browser)
    logout = AuditLogEntry.objects.get(action=AuditLogEntry.Action.LOGOUT)
    assert logout.summary == "SAML session older than 2 s."
    # Signing in again goes through the IdP, which now says "support".
    saml_idp.accounts["fin"] = ["switchboard-support"]
    browser, final = _saml_login(live_server, saml_idp, "fin")
    assert final.url == f"{live_server.url}/admin/"
    user = User.objects.get(email="fin@idp.switchboard.test")
    assert set(user.groups.values_list("name", flat=True)) == {SUPPORT}


def test_a_saml_session_within_the_interval_is_not_touched(
    saml_idp: SamlIdp, live_server: LiveServer, settings: Any
) -> None:
    settings.SAML_SESSION_MAX_SECONDS = 600
    browser, _ = _saml_login(live_server, saml_idp, "fin")
    time.sleep(1)
    assert _has_admin_session(live_server, browser)
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGOUT).exists()


def _post_logout(live_server: LiveServer, browser: requests.Session) -> requests.Response:
    browser.get(f"{live_server.url}/admin/", timeout=10)  # sets the CSRF cookie
    return browser.post(
        f"{live_server.url}/admin/logout/",
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=10,
    )


def test_logout_also_ends_the_session_at_the_idp(
    saml_idp: SamlIdp, live_server: LiveServer
) -> None:
    browser, _ = _saml_login(live_server, saml_idp, "fin")
    issued = saml_idp.issued["fin"]
    assert issued["name_id"] and issued["session_index"]

    response = _post_logout(live_server, browser)

    # Our session ends at once, and the browser carries a LogoutRequest to the IdP ...
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{saml_idp.slo_url}?SAMLRequest=")
    assert not _has_admin_session(live_server, browser)
    final = browser.get(response.headers["Location"], timeout=10)
    # ... which the IdP took for this very login, and answered to our single-logout endpoint.
    assert saml_idp.logouts == [
        {
            "name_id": issued["name_id"],
            "session_indexes": [issued["session_index"]],
            "issuer": SP_ENTITY_ID,
        }
    ]
    assert any(f"/accounts/saml/{SLUG}/sls/?SAMLResponse=" in r.url for r in final.history)
    assert final.status_code == 200
    assert final.url.startswith(f"{live_server.url}/admin/login/")
    logout = AuditLogEntry.objects.get(action=AuditLogEntry.Action.LOGOUT)
    assert logout.actor == User.objects.get(email="fin@idp.switchboard.test")


def test_without_an_idp_logout_service_logout_stays_local(
    saml_idp: SamlIdp, live_server: LiveServer, settings: Any
) -> None:
    _configure(settings, saml_idp, idp_slo_url="")
    browser, _ = _saml_login(live_server, saml_idp, "fin")

    response = _post_logout(live_server, browser)

    assert response.status_code == 200  # the admin's "logged out" page
    assert not saml_idp.logouts
    assert not _has_admin_session(live_server, browser)


def test_an_idp_initiated_logout_ends_the_session_here(
    saml_idp: SamlIdp, live_server: LiveServer
) -> None:
    browser, _ = _saml_login(live_server, saml_idp, "fin")
    assert _has_admin_session(live_server, browser)
    url = saml_idp.logout_request_url(
        "fin", f"{live_server.url}/accounts/saml/{SLUG}/sls/", SP_ENTITY_ID
    )

    final = browser.get(url, timeout=10)

    assert final.status_code == 200
    assert "idp-logout-done" in final.text  # our LogoutResponse reached the IdP
    assert not _has_admin_session(live_server, browser)
    assert AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGOUT).count() == 1
