"""Staff SSO over SAML (django-allauth's SAML provider, see config/settings/saml.py).

The social-account adapter maps the IdP's groups attribute to roles on every SAML login, with
the same ``SSO_GROUP_ROLE_MAP`` and role functions as OIDC (``accounts.access.oidc``; a change is
audited). Someone with no mapped group is refused (an existing account loses its roles and staff
access) and lands on ``sso-no-access``; so does any response that allauth/python3-saml refuse (bad
signature, wrong audience, expired, IdP-initiated...). No session survives a refusal.

Who is who: allauth finds the user by the assertion's stable id (the SocialAccount's uid). A
first login links to an existing account with the same e-mail only when the e-mail is verified
(an ``email_verified`` attribute, or ``SAML_IDP_EMAILS_VERIFIED`` for an IdP whose mail attribute
comes from a directory staff cannot edit) and that account has no SAML identity yet.

Sessions: a SAML session lasts at most ``SAML_SESSION_MAX_SECONDS`` (default: the OIDC re-check
interval); then ``SamlSessionCap`` ends it and sends the browser back through the IdP, which
re-states the groups. Logging out sends a LogoutRequest to the IdP's single-logout service when
one is configured (``SAML_IDP_SLO_URL``); allauth's SLS endpoint takes the IdP's answer and
IdP-initiated logouts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from allauth.socialaccount.providers.saml.provider import SAMLProvider
from django.conf import settings
from django.contrib import auth
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import NoReverseMatch, reverse

from accounts.access.audit import LOGOUT_REASON_ATTR
from accounts.access.oidc import INVALID, NO_ROLE, REFUSAL_SESSION_KEY, roles_for_groups, set_roles
from accounts.models import User

logger = logging.getLogger(__name__)

SAML_PROVIDER = "saml"
_ROLES_ATTR = "_switchboard_roles"
# What a SAML login leaves on its request, then in the session: when it happened and what
# single logout needs (NameID, its format and qualifiers, SessionIndex, the app's slug).
_LOGIN_ATTR = "_switchboard_saml_login"
SESSION_KEY = "_sso_saml"


def saml_login_url(*, next_url: str = "") -> str:
    """Where "Sign in with SAML" starts (allauth's SAML login for the first SAML app in
    settings, keeping ``next``), or "" when no SAML IdP is configured. Read from settings, so
    the admin's login page asks the database nothing."""
    apps = getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}).get(SAML_PROVIDER, {}).get("APPS", [])
    if not apps:
        return ""
    url = reverse("saml_login", kwargs={"organization_slug": apps[0]["client_id"]})
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def saml_session_max_seconds() -> int:
    default = getattr(settings, "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 900)
    return int(getattr(settings, "SAML_SESSION_MAX_SECONDS", None) or default)


def _refuse(request: HttpRequest, reason: str) -> ImmediateHttpResponse:
    if request.user.is_authenticated:
        auth.logout(request)
    request.session[REFUSAL_SESSION_KEY] = reason
    return ImmediateHttpResponse(HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE))


def _groups(sociallogin: SocialLogin) -> Any:
    provider = sociallogin.account.get_provider()
    attribute = provider.app.settings.get("groups_attribute", "groups")
    return (sociallogin.account.extra_data or {}).get(attribute)


def _email_verified(sociallogin: SocialLogin) -> bool:
    provider = sociallogin.account.get_provider()
    if provider.app.settings.get("emails_verified"):
        return True
    email = str(sociallogin.user.email or "").lower() if sociallogin.user else ""
    return any(a.verified and a.email.lower() == email for a in sociallogin.email_addresses or [])


class StaffSAMLProvider(SAMLProvider):
    """allauth's SAML provider, keeping on the request what single logout needs (nothing of it
    is stored with the account)."""

    package = "allauth.socialaccount.providers.saml"  # its URLs are allauth's

    def extract_extra_data(self, data: Any) -> Any:
        setattr(
            self.request,
            _LOGIN_ATTR,
            {
                "slug": self.app.client_id,
                "name_id": data.get_nameid(),
                "name_id_format": data.get_nameid_format(),
                "nq": data.get_nameid_nq(),
                "spnq": data.get_nameid_spnq(),
                "session_index": data.get_session_index(),
            },
        )
        return super().extract_extra_data(data)


class StaffSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        """A first SAML login with a mapped group creates the staff user."""
        return sociallogin.account.provider == SAML_PROVIDER

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        logger.warning(
            "SAML login refused: %s",
            (extra_context or {}).get("saml_last_error_reason") or error or exception,
        )
        raise _refuse(request, INVALID)

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        if sociallogin.account.provider != SAML_PROVIDER:
            raise _refuse(request, INVALID)
        roles = roles_for_groups(_groups(sociallogin))
        email = str(sociallogin.user.email or "") if sociallogin.user else ""
        user: User | None = sociallogin.user if sociallogin.is_existing else None
        if user is None and email:
            matches = list(User.objects.filter(email__iexact=email)[:2])
            if matches and not _email_verified(sociallogin):
                logger.warning("SAML login refused: an unverified e-mail matches an account")
                raise _refuse(request, INVALID)
            if len(matches) > 1:
                logger.warning("SAML login refused: several users have this e-mail address")
                raise _refuse(request, INVALID)
            if (
                matches
                and SocialAccount.objects.filter(user=matches[0], provider=SAML_PROVIDER).exists()
            ):
                logger.warning("SAML login refused: that account has another SAML identity")
                raise _refuse(request, INVALID)
            user = matches[0] if matches else None
        if not roles:
            if user is not None:
                with transaction.atomic():
                    set_roles(user, [], source="saml")
            logger.info(
                "SAML login refused: no mapped group", extra={"uid": sociallogin.account.uid}
            )
            raise _refuse(request, NO_ROLE)
        setattr(sociallogin, _ROLES_ATTR, roles)
        if user is not None:
            with transaction.atomic():
                if not sociallogin.is_existing:
                    sociallogin.connect(request, user)
                set_roles(user, roles, source="saml")

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> User:
        with transaction.atomic():
            user: User = super().save_user(request, sociallogin, form)
            set_roles(user, getattr(sociallogin, _ROLES_ATTR, []), source="saml")
        return user


def saml_logout_url(request: HttpRequest, return_to: str) -> str | None:
    """The IdP's single-logout URL carrying a LogoutRequest for this session's SAML login, or
    None (not a SAML session, SAML off, or no SLO service configured at the IdP)."""
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or not data.get("name_id"):
        return None
    from allauth.socialaccount.providers.saml.utils import build_auth, get_app_or_404

    try:
        app = get_app_or_404(request, data["slug"])
    except Http404:
        return None
    provider = app.get_provider(request)
    if not provider.app.settings.get("idp", {}).get("slo_url"):
        return None
    saml_auth = build_auth(request, provider)
    url: str = saml_auth.logout(
        return_to=return_to,
        name_id=data["name_id"],
        session_index=data.get("session_index"),
        nq=data.get("nq"),
        name_id_format=data.get("name_id_format"),
        spnq=data.get("spnq"),
    )
    return url


class SamlSessionCap:
    """Ends a SAML session ``saml_session_max_seconds()`` after its login and sends the browser
    back through the IdP's login (which re-states the groups); an API call gets 401. Also
    records what a SAML login needs in its (new) session. Other sessions pass untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        data = request.session.get(SESSION_KEY) if request.user.is_authenticated else None
        if isinstance(data, dict):
            limit = saml_session_max_seconds()
            if time.time() - float(data.get("at", 0)) > limit:
                return self._expire(request, data, limit)
        response = self.get_response(request)
        login = getattr(request, _LOGIN_ATTR, None)
        if login is not None and request.user.is_authenticated:
            request.session[SESSION_KEY] = {**login, "at": time.time()}
        return response

    @staticmethod
    def _expire(request: HttpRequest, data: dict[str, Any], limit: int) -> HttpResponse:
        setattr(request, LOGOUT_REASON_ATTR, f"SAML session older than {limit} s.")
        auth.logout(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "Your SSO session has expired."}, status=401)
        next_url = request.get_full_path() if request.method == "GET" else "/admin/"
        try:
            login = reverse("saml_login", kwargs={"organization_slug": data.get("slug", "")})
        except NoReverseMatch:  # no SAML app of that slug any more
            login = reverse("admin:login")
        return HttpResponseRedirect(f"{login}?{urlencode({'next': next_url})}")
