"""Staff sign in through the company IdP in Chromium and land with their role (issue 11 item 8).

OIDC: the admin login page's "Sign in with SSO" button, the local oidc-provider's own login and
consent forms (tests/idp/oidc, a node process; skipped with one line when node or the installed
IdP is missing), the callback, and the admin as the role mapped from the IdP groups sees it.
SAML: the same through the pysaml2 IdP of tests/idp/saml (in-process, needs no node), from the
admin login page's "Sign in with SAML" button.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from accounts.access.oidc import _DISCOVERY_CACHE
from accounts.access.roles import FINANCE, ROLES, SUPPORT, sync_roles
from accounts.models import User
from config.settings.saml import saml_app, saml_providers
from payments.models import Refund
from payments.services import refund_request
from tests.accounts import test_oidc
from tests.accounts.test_oidc import PASSWORD as OIDC_PASSWORD
from tests.accounts.test_oidc import Idp
from tests.browser import SCREENSHOTS_DIR
from tests.browser.conftest import Browser
from tests.factories import make_paid_payment, make_staff
from tests.idp.saml.idp import PASSWORD as SAML_PASSWORD
from tests.idp.saml.idp import SamlIdp

# The real local IdP's fixtures (tests/idp/oidc), shared with tests/accounts/test_oidc.py.
idp_process = test_oidc.idp_process
idp = test_oidc.idp

SAML_SLUG = "switchboard"
SAML_SP_ENTITY_ID = "https://switchboard.test/saml/sp"
# IdP logins (the IdP's accounts file / the SAML IdP's table) -> IdP groups.
IDP_ACCOUNTS = {
    "fin": ["switchboard-finance", "unrelated"],
    "sam": ["switchboard-support"],
    "nobody": ["some-other-app"],
}
NO_ACCESS_TEXT = "not in any group that gives access to Switchboard"
# What finance sees in the admin index and support does not (accounts/access/roles.py).
FINANCE_ONLY = {"Reconciliation exceptions", "Disputes", "Webhook events", "Provider calls"}

pytestmark = pytest.mark.django_db(transaction=True)


def _roles(user: User) -> set[str]:
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


@pytest.fixture
def site(
    chromium: Any, transactional_db: None, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Browser]]:
    """``start()``: a live server whose middleware is built with the settings configured so far
    (SSO on, as at start-up), seen in the session's Chromium, signed out."""
    servers: list[LiveServer] = []
    pages: list[Browser] = []

    def start() -> Browser:
        server = LiveServer("127.0.0.1:0")
        servers.append(server)
        shots = SCREENSHOTS_DIR / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        shutil.rmtree(shots, ignore_errors=True)
        page = Browser(chromium, server.url, shots)
        page.sign_out()
        pages.append(page)
        return page

    sync_roles()  # the live server's database is emptied after each test
    yield start
    for page in pages:
        page.sign_out()
    for server in servers:
        server.stop()


@pytest.fixture
def oidc_site(settings: Any, idp: Idp, site: Callable[[], Browser]) -> Browser:
    idp.set_accounts(IDP_ACCOUNTS)
    test_oidc._configure(settings, idp)
    _DISCOVERY_CACHE.clear()
    return site()


def _pending_refund() -> Refund:
    """A refund request waiting for finance (requested by someone else)."""
    requester = make_staff("requester", role=SUPPORT)
    return refund_request(
        payment=make_paid_payment(amount=5_000), requested_by=requester, reason="defective"
    )


def _oidc_sign_in(browser: Browser, idp: Idp, login: str) -> None:
    """From the admin's login page: "Sign in with SSO", then the IdP's own forms."""
    browser.visit("/admin/login/?next=/admin/")
    browser.shot("admin login page")
    assert browser.text("#sso-login a") == "Sign in with SSO"
    browser.click("#sso-login a")
    assert browser.driver.current_url.startswith(f"{idp.issuer}/interaction/")
    browser.shot("idp login form")
    browser.type("input[name=login]", login)
    browser.type("input[name=password]", OIDC_PASSWORD)
    browser.click("form[action$='/login'] button[type=submit]")
    browser.shot("idp consent form")
    browser.click("form[action$='/confirm'] button[type=submit]")


def _admin_index_models(browser: Browser) -> set[str]:
    return {str(a.text) for a in browser.find_all("#content-main table caption ~ tbody th a")}


def _actions(browser: Browser) -> list[str]:
    return [str(o.text) for o in browser.find_all("select[name=action] option")]


def _change_url(refund: Refund) -> str:
    return reverse("admin:payments_refund_change", args=[refund.pk])


def test_finance_signs_in_through_the_idp_and_works_the_refund_queue(
    oidc_site: Browser, idp: Idp
) -> None:
    browser = oidc_site
    refund = _pending_refund()

    _oidc_sign_in(browser, idp, "fin")
    browser.shot("landed in the admin")

    assert browser.path == "/admin/"
    user = User.objects.get(username="fin")
    assert _roles(user) == {FINANCE}
    assert user.is_staff and not user.is_superuser
    models = _admin_index_models(browser)
    assert {"Refunds", *FINANCE_ONLY} <= models
    assert "Users" not in models

    browser.click(f"a[href='{reverse('admin:payments_refund_changelist')}']")
    browser.shot("refund queue")
    assert browser.has(f"#result_list a[href='{_change_url(refund)}']")
    assert "Approve selected refund requests" in _actions(browser)


def test_support_signs_in_through_the_idp_and_sees_no_finance_screens(
    oidc_site: Browser, idp: Idp
) -> None:
    browser = oidc_site
    refund = _pending_refund()

    _oidc_sign_in(browser, idp, "sam")
    browser.shot("landed in the admin")

    assert browser.path == "/admin/"
    assert _roles(User.objects.get(username="sam")) == {SUPPORT}
    models = _admin_index_models(browser)
    assert "Refunds" in models
    assert not models & {*FINANCE_ONLY, "Users"}

    browser.click(f"a[href='{reverse('admin:payments_refund_changelist')}']")
    browser.shot("refund list, read only")
    assert browser.has(f"#result_list a[href='{_change_url(refund)}']")
    assert "Approve selected refund requests" not in _actions(browser)

    browser.visit(reverse("admin:payments_reconciliationexception_changelist"))
    browser.shot("reconciliation refused")
    assert "You may not open this page" in browser.text("#content")
    assert not browser.has("#result_list")


def test_someone_with_no_mapped_group_is_refused_with_a_clear_page(
    oidc_site: Browser, idp: Idp
) -> None:
    browser = oidc_site

    _oidc_sign_in(browser, idp, "nobody")
    browser.shot("refused")

    assert browser.path == "/sso/no-access/"
    assert NO_ACCESS_TEXT in browser.text(".errornote")
    assert not User.objects.filter(username="nobody").exists()
    browser.click("a[href='/admin/login/']")
    browser.shot("back on the sign-in page")
    assert browser.path.startswith("/admin/login/")
    browser.visit("/admin/")
    assert browser.path.startswith("/admin/login/")


# SAML ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def saml_idp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    idp = SamlIdp(workdir=tmp_path_factory.mktemp("saml-idp-browser"))
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()


@pytest.fixture
def saml_site(
    settings: Any, saml_idp_server: SamlIdp, site: Callable[[], Browser]
) -> tuple[Browser, SamlIdp]:
    """A live server with SAML configured, the IdP trusting its SP metadata."""
    settings.SOCIALACCOUNT_PROVIDERS = saml_providers(
        [
            saml_app(
                idp_entity_id=saml_idp_server.entity_id,
                idp_sso_url=saml_idp_server.sso_url,
                idp_x509_cert=saml_idp_server.cert_pem,
                sp_entity_id=SAML_SP_ENTITY_ID,
                slug=SAML_SLUG,
            )
        ]
    )
    saml_idp_server.mode = "normal"
    saml_idp_server.accounts = dict(IDP_ACCOUNTS)
    browser = site()
    metadata = requests.get(f"{browser.base_url}/accounts/saml/{SAML_SLUG}/metadata/", timeout=10)
    assert metadata.status_code == 200, metadata.text
    saml_idp_server.trust_sp(metadata.text)
    return browser, saml_idp_server


def _saml_sign_in(browser: Browser, idp: SamlIdp, login: str) -> None:
    """From the admin's login page: "Sign in with SAML", our confirmation, the IdP's form; the
    IdP's answer posts itself back to our assertion consumer service."""
    from selenium.webdriver.support.wait import WebDriverWait

    browser.visit("/admin/login/?next=/admin/")
    browser.shot("admin login page")
    assert browser.text("#saml-login a") == "Sign in with SAML"
    browser.click("#saml-login a")
    browser.shot("confirm sign-in via saml")
    browser.click("form[method=post] button[type=submit]")
    assert browser.driver.current_url.startswith(f"{idp.sso_url}?SAMLRequest=")
    browser.shot("idp login form")
    browser.type("#login input[name=username]", login)
    browser.type("#login input[name=password]", SAML_PASSWORD)
    browser.click("#login input[type=submit]")
    # The IdP's page submits its form (HTTP-POST binding) on load; wait until we are back.
    WebDriverWait(browser.driver, 10).until(
        lambda driver: (
            driver.current_url.startswith(browser.base_url)
            and driver.execute_script("return document.readyState") == "complete"
        )
    )


def test_finance_signs_in_through_the_saml_idp_and_sees_the_refund_queue(
    saml_site: tuple[Browser, SamlIdp],
) -> None:
    browser, idp = saml_site
    refund = _pending_refund()

    _saml_sign_in(browser, idp, "fin")
    browser.shot("landed in the admin")

    assert browser.path == "/admin/"
    user = User.objects.get(email="fin@idp.switchboard.test")
    assert _roles(user) == {FINANCE}
    models = _admin_index_models(browser)
    assert {"Refunds", "Reconciliation exceptions", "Webhook events"} <= models
    browser.click(f"a[href='{reverse('admin:payments_refund_changelist')}']")
    browser.shot("refund queue")
    assert browser.has(f"#result_list a[href='{_change_url(refund)}']")
    assert "Approve selected refund requests" in _actions(browser)


def test_support_signs_in_through_the_saml_idp_without_finance_screens(
    saml_site: tuple[Browser, SamlIdp],
) -> None:
    browser, idp = saml_site

    _saml_sign_in(browser, idp, "sam")
    browser.shot("landed in the admin")

    assert browser.path == "/admin/"
    assert _roles(User.objects.get(email="sam@idp.switchboard.test")) == {SUPPORT}
    models = _admin_index_models(browser)
    assert "Refunds" in models
    assert not models & FINANCE_ONLY


def test_no_mapped_saml_group_is_refused_with_a_clear_page(
    saml_site: tuple[Browser, SamlIdp],
) -> None:
    browser, idp = saml_site

    _saml_sign_in(browser, idp, "nobody")
    browser.shot("refused")

    assert browser.path == "/sso/no-access/"
    assert NO_ACCESS_TEXT in browser.text(".errornote")
    assert not User.objects.filter(email="nobody@idp.switchboard.test").exists()
    browser.visit("/admin/")
    assert browser.path.startswith("/admin/login/")
