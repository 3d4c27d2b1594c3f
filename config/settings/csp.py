"""Content-Security-Policy on every response, through django-csp (docs/security.md).

No inline script anywhere: ``script-src 'self'`` (the admin's own scripts, our static files and
the Swagger UI assets are all files served from here). Styles allow ``'unsafe-inline'`` because
Swagger UI ships an inline ``<style>`` block and a few of our templates use ``style=``
attributes; an inline style cannot run code. ``frame-ancestors 'none'`` matches
``X_FRAME_OPTIONS = "DENY"``. Forms post to this site only, plus the company IdP's origins
(the SSO sign-in and sign-out hand over to it after a form post), which
``accounts.access.csp.ContentSecurityPolicyMiddleware`` adds from the OIDC and SAML settings on
each response.
"""

from __future__ import annotations

from csp.constants import NONE, SELF, UNSAFE_INLINE

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
CSP_MIDDLEWARE = ["accounts.access.csp.ContentSecurityPolicyMiddleware"]
