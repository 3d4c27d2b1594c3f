"""Staff SSO over SAML (django-allauth's SAML provider, see config/settings/saml.py).

The social-account adapter maps the IdP's groups attribute to roles on every SAML login, with
the same ``SSO_GROUP_ROLE_MAP`` and role functions as OIDC (``accounts.oidc``). Someone with no
mapped group is refused (an existing account loses its roles and staff access) and lands on
``sso-no-access``; so does any response that allauth/python3-saml refuse (bad signature, wrong
audience, expired, IdP-initiated...). No session survives a refusal.
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib import auth
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect

from accounts.models import User
from accounts.oidc import INVALID, NO_ROLE, REFUSAL_SESSION_KEY, roles_for_groups, set_roles

logger = logging.getLogger(__name__)

SAML_PROVIDER = "saml"
_ROLES_ATTR = "_switchboard_roles"


def saml_enabled() -> bool:
    apps = getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}).get(SAML_PROVIDER, {}).get("APPS", [])
    return bool(apps)


def saml_login_slug() -> str:
    apps = settings.SOCIALACCOUNT_PROVIDERS[SAML_PROVIDER]["APPS"]
    return str(apps[0]["client_id"])


def _refuse(request: HttpRequest, reason: str) -> ImmediateHttpResponse:
    if request.user.is_authenticated:
        auth.logout(request)
    request.session[REFUSAL_SESSION_KEY] = reason
    return ImmediateHttpResponse(HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE))


def _groups(sociallogin: SocialLogin) -> Any:
    provider = sociallogin.account.get_provider()
    attribute = provider.app.settings.get("groups_attribute", "groups")
    return (sociallogin.account.extra_data or {}).get(attribute)


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
            if len(matches) > 1:
                logger.warning("SAML login refused: several users have this e-mail address")
                raise _refuse(request, INVALID)
            user = matches[0] if matches else None
        if not roles:
            if user is not None:
                set_roles(user, [])
            logger.info(
                "SAML login refused: no mapped group", extra={"uid": sociallogin.account.uid}
            )
            raise _refuse(request, NO_ROLE)
        setattr(sociallogin, _ROLES_ATTR, roles)
        if user is not None:
            with transaction.atomic():
                if not sociallogin.is_existing:
                    sociallogin.connect(request, user)
                set_roles(user, roles)

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> User:
        with transaction.atomic():
            user: User = super().save_user(request, sociallogin, form)
            set_roles(user, getattr(sociallogin, _ROLES_ATTR, []))
        return user
