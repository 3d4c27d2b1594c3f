"""django-csp's middleware, with the company IdP's origins added to ``form-action``.

Chromium applies ``form-action`` to the redirects that follow a form post too, so a sign-in or
sign-out form that hands over to the IdP needs the IdP's origin there. The origins come from the
OIDC and SAML settings each time (tests and deployments change them), never from the request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

OIDC_URL_SETTINGS = (
    "OIDC_OP_DISCOVERY_URL",
    "OIDC_OP_ISSUER",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_LOGOUT_ENDPOINT",
)


def _idp_urls() -> list[str]:
    urls = [str(getattr(settings, name, "") or "") for name in OIDC_URL_SETTINGS]
    saml = (getattr(settings, "SOCIALACCOUNT_PROVIDERS", None) or {}).get("saml") or {}
    for app in saml.get("APPS") or []:
        idp = (app.get("settings") or {}).get("idp") or {}
        urls += [str(idp.get("sso_url") or ""), str(idp.get("slo_url") or "")]
    return urls


def idp_origins() -> list[str]:
    """The scheme://host[:port] of every configured IdP URL (OIDC settings and the SAML apps'
    single sign-on and logout URLs), sorted, without duplicates."""
    origins = set()
    for url in _idp_urls():
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        origins = idp_origins()
        if origins and not report_only:
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), *origins]
            parts.update = update
        return parts
