"""Re-authentication before approving a refund above the dual-approval threshold."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.access.reauth import MAX_FAILURES, SESSION_KEY
from accounts.access.roles import sync_roles
from accounts.models import AuditLogEntry, User
from payments.models import Refund, RefundApproval, RefundStatus
from payments.services import refund_request
from tests.accounts import test_oidc
from tests.accounts.test_oidc import PASSWORD as IDP_PASSWORD
from tests.accounts.test_oidc import _form_action, sso_login
from tests.factories import make_paid_payment, make_staff

THRESHOLD = 100_000
CHANGELIST = reverse("admin:payments_refund_changelist")
REAUTH = reverse("reauth")
PASSWORD = "pw-for-tests-only"  # tests.factories.make_staff's

# The real local IdP's fixtures (tests/idp/oidc), shared with tests/accounts/test_oidc.py.
idp_process = test_oidc.idp_process
idp = test_oidc.idp
make_server = test_oidc.make_server


@pytest.fixture(autouse=True)
def _setup(db: None, settings: Any) -> None:
    sync_roles()
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = THRESHOLD
    settings.SENSITIVE_ACTION_REAUTH_SECONDS = 300


def _request(user, amount: int) -> Refund:
    return refund_request(
        payment=make_paid_payment(amount=amount), requested_by=user, reason="defective"
    )


def _approve_url(refund: Refund) -> str:
    return reverse("admin:payments_refund_approve", args=[refund.pk])


def _change_url(refund: Refund) -> str:
    return reverse("admin:payments_refund_change", args=[refund.pk])


def _stale(client, seconds_ago: float = 3600) -> None:
    session = client.session
    session[SESSION_KEY] = time.time() - seconds_ago
    session.save()


def _next_of(url: str) -> str:
    parsed = urlparse(url)
    assert parsed.path == REAUTH
    return parse_qs(parsed.query)["next"][0]


def test_a_stale_session_is_sent_to_reauth_and_nothing_is_approved(
    client, support_user, finance_user
):
    refund = _request(support_user, THRESHOLD + 1)
    client.force_login(finance_user)
    _stale(client)

    response = client.post(_approve_url(refund))

    assert response.status_code == 302
    # After re-authenticating, the finance user is back on the refund, the approval one click away.
    assert _next_of(response.url) == f"{_change_url(refund)}?approve=resume"
    assert not RefundApproval.objects.exists()
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert any("confirm who you are" in str(m) for m in get_messages(response.wsgi_request))


def test_the_action_on_a_stale_session_approves_nothing_of_the_selection(
    client, support_user, finance_user
):
    large = _request(support_user, THRESHOLD * 2)
    small = _request(support_user, 5_000)
    client.force_login(finance_user)
    _stale(client)

    response = client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [large.pk, small.pk]}
    )

    assert response.status_code == 302
    assert _next_of(response.url) == CHANGELIST
    assert not RefundApproval.objects.exists()


def test_after_reauth_the_approval_goes_through(client, support_user, finance_user):
    refund = _request(support_user, THRESHOLD * 2)
    client.force_login(finance_user)
    _stale(client)
    redirect = client.post(_approve_url(refund))

    page = client.get(redirect.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="reauth-password-form"' in html
    assert 'id="reauth-sso-form"' not in html  # SSO is not configured in tests
    confirmed = client.post(REAUTH, {"password": PASSWORD, "next": _change_url(refund)})
    assert confirmed.status_code == 302 and confirmed.url == _change_url(refund)

    approved = client.post(_approve_url(refund))

    assert approved.status_code == 302 and approved.url == _change_url(refund)
    assert list(RefundApproval.objects.values_list("approver", flat=True)) == [finance_user.pk]
    action = client.post(
        CHANGELIST,
        {"action": "approve_selected", "_selected_action": [_request(support_user, 150_000).pk]},
    )
    assert action.status_code == 302 and action.url == CHANGELIST
    assert RefundApproval.objects.count() == 2


def test_a_wrong_password_is_an_error_and_approves_nothing(client, support_user, finance_user):
    refund = _request(support_user, THRESHOLD * 2)
    client.force_login(finance_user)
    _stale(client)

    page = client.post(REAUTH, {"password": "wrong", "next": _change_url(refund)})

    assert page.status_code == 200
    assert "That password is not correct." in page.content.decode()
    assert AuditLogEntry.objects.filter(action=AuditLogEntry.Action.LOGIN_FAILED).exists()
    again = client.post(_approve_url(refund))
    assert again.status_code == 302 and again.url.startswith(REAUTH)
    assert not RefundApproval.objects.exists()


def test_repeated_wrong_passwords_end_the_session(client, finance_user):
    client.force_login(finance_user)
    for _ in range(MAX_FAILURES - 1):
        assert client.post(REAUTH, {"password": "guess", "next": CHANGELIST}).status_code == 200
    ended = client.post(REAUTH, {"password": "guess", "next": CHANGELIST})
    assert ended.status_code == 302 and ended.url == reverse("admin:login")
    assert "_auth_user_id" not in client.session


def test_the_reauth_expires_after_the_setting(client, settings, support_user, finance_user):
    settings.SENSITIVE_ACTION_REAUTH_SECONDS = 1
    first = _request(support_user, THRESHOLD * 2)
    second = _request(support_user, THRESHOLD * 2)
    client.force_login(finance_user)
    client.post(REAUTH, {"password": PASSWORD, "next": CHANGELIST})
    assert client.post(_approve_url(first)).url == _change_url(first)
    assert RefundApproval.objects.filter(refund=first).exists()

    time.sleep(1.2)

    response = client.post(_approve_url(second))
    assert response.url.startswith(REAUTH)
    assert not RefundApproval.objects.filter(refund=second).exists()


def test_below_the_threshold_nothing_changes(client, support_user, finance_user):
    refund = _request(support_user, THRESHOLD)  # at the threshold: one approval, no re-auth
    client.force_login(finance_user)
    _stale(client)

    response = client.post(_approve_url(refund))

    assert response.status_code == 302 and response.url == _change_url(refund)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED


def test_a_login_counts_as_a_fresh_authentication(client, support_user, finance_user):
    refund = _request(support_user, THRESHOLD * 2)
    client.force_login(finance_user)  # user_logged_in: the login itself is recent

    response = client.post(_approve_url(refund))

    assert response.url == _change_url(refund)
    assert RefundApproval.objects.filter(refund=refund, approver=finance_user).exists()


def test_next_must_stay_on_this_site(client, finance_user):
    client.force_login(finance_user)
    response = client.post(REAUTH, {"password": PASSWORD, "next": "https://evil.example/x"})
    assert response.status_code == 302 and response.url == reverse("admin:index")


def test_a_user_without_a_password_cannot_use_the_password_form(client, finance_user):
    sso_only = make_staff("sso-only", role="finance")
    sso_only.set_unusable_password()
    sso_only.save()
    client.force_login(sso_only)
    _stale(client)

    page = client.post(REAUTH, {"password": "", "next": CHANGELIST})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="reauth-password-form"' not in html
    assert "SSO is not configured" in html
    assert client.session[SESSION_KEY] < time.time() - 60  # still stale


def test_the_reauth_page_needs_a_staff_session(client):
    response = client.get(REAUTH)
    assert response.status_code == 302
    assert reverse("admin:login") in response.url
    assert client.post(reverse("reauth-sso")).status_code == 302


# A fresh SSO login against the real local IdP -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_sso_user_reauthenticates_with_a_fresh_sso_login(make_server, idp, support_user):
    from django.contrib.sessions.backends.db import SessionStore

    refund = _request(support_user, THRESHOLD * 2)
    base_url = make_server()
    with requests.Session() as http:
        assert sso_login(http, base_url, idp, "fin").url == f"{base_url}/admin/"
        fin = User.objects.get(username="fin")
        session = SessionStore(session_key=http.cookies["sessionid"])
        assert session[SESSION_KEY] > time.time() - 60  # the SSO login itself was fresh
        session[SESSION_KEY] = time.time() - 3600
        session.save()

        def post(path: str, data: dict[str, str] | None = None) -> requests.Response:
            return http.post(
                f"{base_url}{path}",
                data={**(data or {}), "csrfmiddlewaretoken": http.cookies["csrftoken"]},
                headers={"Referer": f"{base_url}{path}"},
                allow_redirects=False,
                timeout=30,
            )

        refused = post(_approve_url(refund))
        assert refused.status_code == 302
        assert not RefundApproval.objects.exists()
        page = http.get(f"{base_url}{refused.headers['Location']}", timeout=30)
        assert 'id="reauth-sso-form"' in page.text
        assert 'id="reauth-password-form"' not in page.text  # SSO users have no password here

        start = post(reverse("reauth-sso"), {"next": _change_url(refund)})
        assert start.status_code == 302
        authorize = urlparse(start.headers["Location"])
        assert f"{authorize.scheme}://{authorize.netloc}" == idp.issuer
        assert parse_qs(authorize.query)["prompt"] == ["login"]
        # The IdP asks for the password again although its own session is still open.
        login_page = http.get(start.headers["Location"], timeout=30)
        assert 'name="password"' in login_page.text
        back = http.post(
            f"{idp.issuer}{_form_action(login_page.text, '/login')}",
            data={"login": "fin", "password": IDP_PASSWORD},
            timeout=30,
        )
        if "/confirm" in back.text:
            back = http.post(f"{idp.issuer}{_form_action(back.text, '/confirm')}", timeout=30)
        assert back.status_code == 200
        assert back.url == f"{base_url}{_change_url(refund)}"

        approved = post(_approve_url(refund))
        assert approved.status_code == 302
        assert approved.headers["Location"] == _change_url(refund)
    assert list(RefundApproval.objects.values_list("approver", flat=True)) == [fin.pk]
