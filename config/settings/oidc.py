"""Staff SSO over OpenID Connect (mozilla-django-oidc), configured from the environment.

SSO is on when ``OIDC_RP_CLIENT_ID`` is set together with either ``OIDC_OP_DISCOVERY_URL`` (the
IdP's ``.well-known/openid-configuration``, read lazily at first use) or the explicit endpoints
``OIDC_OP_AUTHORIZATION_ENDPOINT``, ``OIDC_OP_TOKEN_ENDPOINT``, ``OIDC_OP_USER_ENDPOINT`` and
``OIDC_OP_JWKS_ENDPOINT``. Explicit endpoints win over discovered ones.

- Authorization code flow with PKCE (S256) and a nonce; ID tokens must be RS256-signed by a key
  from the IdP's JWKS, with ``aud`` = our client id (and ``iss`` = ``OIDC_OP_ISSUER`` when known).
- ``SSO_GROUP_ROLE_MAP`` maps IdP groups (claim ``OIDC_GROUPS_CLAIM``, default ``groups``) to
  roles: JSON (``{"idp-group": "role"}``) or ``idp-group:role,idp-group:role``. Default:
  ``switchboard-<role>`` -> ``<role>`` for every role. A user with no mapped group gets no access.
- ``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS`` (default 900): after that long, the next GET of an SSO
  session goes back to the IdP with ``prompt=none``; a user disabled there, or left with no mapped
  group, is logged out here at that point instead of when the Django session expires. SAML
  sessions are capped to the same length (config/settings/saml.py).
- The issuer is always checked: taken from discovery (which must name the issuer its URL belongs
  to), or ``OIDC_OP_ISSUER``, which start-up requires when the endpoints are set by hand.
- Staff are matched by the IdP's ``sub`` (stored at first login, ``accounts.SsoIdentity``); an
  e-mail links a first login to an existing account only when the IdP says it is verified.
- Logging out also ends the IdP session: the browser goes to the IdP's end-session endpoint
  (discovered, or ``OIDC_OP_LOGOUT_ENDPOINT``) with the ID token as hint and comes back to
  ``/sso/signed-out/`` (register that URL at the IdP as a post-logout redirect URI).
- API bearer tokens are JWT access tokens (RFC 9068, header ``typ`` in ``OIDC_API_TOKEN_TYPES``)
  checked here against the IdP's JWKS: issuer, lifetime and ``aud`` containing
  ``OIDC_API_AUDIENCE`` (default: the client id), so tokens issued for other apps are refused.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env

_ROLE_NAMES = ("support", "sales", "finance", "ops", "admin")


def parse_group_role_map(value: str) -> dict[str, str]:
    """``{"idp-group": "role"}`` from JSON or ``idp-group:role,...``; empty means the default."""
    value = value.strip()
    if not value:
        return {f"switchboard-{role}": role for role in _ROLE_NAMES}
    if value.startswith("{"):
        loaded: Any = json.loads(value)
        if not isinstance(loaded, dict):
            raise ValueError("SSO_GROUP_ROLE_MAP must be a JSON object")
        mapping = {str(k): str(v) for k, v in loaded.items()}
    else:
        mapping = {}
        for item in value.split(","):
            if not item.strip():
                continue
            group, sep, role = item.strip().rpartition(":")
            if not sep or not group or not role:
                raise ValueError(f"SSO_GROUP_ROLE_MAP entry {item!r} is not 'idp-group:role'")
            mapping[group.strip()] = role.strip()
    unknown = sorted(set(mapping.values()) - set(_ROLE_NAMES))
    if unknown:
        raise ValueError(f"SSO_GROUP_ROLE_MAP names unknown roles: {unknown}")
    return mapping


def check_oidc_settings(*, client_id: str, discovery_url: str, issuer: str) -> None:
    """Refuse a configuration whose ID tokens could not have their issuer checked: SSO set up
    with explicit endpoints (no discovery) must name ``OIDC_OP_ISSUER``."""
    if client_id and not discovery_url and not issuer:
        raise ImproperlyConfigured(
            "OIDC_OP_ISSUER is required when the OIDC endpoints are set by hand (no "
            "OIDC_OP_DISCOVERY_URL): without it the issuer of ID tokens could not be checked."
        )


OIDC_RP_CLIENT_ID: str = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET: str = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_DISCOVERY_URL: str = env.str("OIDC_OP_DISCOVERY_URL", default="")
OIDC_OP_ISSUER: str = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT: str = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT: str = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT: str = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT: str = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_OP_LOGOUT_ENDPOINT: str = env.str("OIDC_OP_LOGOUT_ENDPOINT", default="")
OIDC_ENABLED: bool = bool(OIDC_RP_CLIENT_ID) and (
    bool(OIDC_OP_DISCOVERY_URL)
    or all(
        (
            OIDC_OP_AUTHORIZATION_ENDPOINT,
            OIDC_OP_TOKEN_ENDPOINT,
            OIDC_OP_USER_ENDPOINT,
            OIDC_OP_JWKS_ENDPOINT,
        )
    )
)

if OIDC_ENABLED:
    check_oidc_settings(
        client_id=OIDC_RP_CLIENT_ID, discovery_url=OIDC_OP_DISCOVERY_URL, issuer=OIDC_OP_ISSUER
    )

OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_RP_SCOPES: str = env.str("OIDC_RP_SCOPES", default="openid email profile groups")
OIDC_GROUPS_CLAIM: str = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_TIMEOUT: int = env.int("OIDC_TIMEOUT", default=10)
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: int = env.int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", default=900)
# The ID token is kept in the session: logging out sends it to the IdP as id_token_hint.
OIDC_STORE_ID_TOKEN = True
OIDC_API_AUDIENCE: str = env.str("OIDC_API_AUDIENCE", default="") or OIDC_RP_CLIENT_ID
OIDC_API_TOKEN_TYPES: list[str] = env.list(
    "OIDC_API_TOKEN_TYPES", default=["at+jwt", "application/at+jwt"]
)
SSO_GROUP_ROLE_MAP: dict[str, str] = parse_group_role_map(env.str("SSO_GROUP_ROLE_MAP", default=""))

OIDC_AUTHENTICATE_CLASS = "accounts.access.oidc.SSOAuthenticateView"
OIDC_CALLBACK_CLASS = "accounts.access.oidc.SSOCallbackView"
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/sso/no-access/"

AUTHENTICATION_BACKENDS = [
    "accounts.access.auth.PasswordLoginBackend",  # break-glass password login (settings/security.py)
    *(["accounts.access.oidc.StaffOIDCBackend"] if OIDC_ENABLED else []),
]
# Appended to MIDDLEWARE by base.py: the periodic re-check against the IdP (SessionRefresh), and
# the length cap of SAML sessions (a no-op for other sessions, so always installed).
OIDC_MIDDLEWARE = [
    *(["accounts.access.oidc.SSOSessionRecheck"] if OIDC_ENABLED else []),
    "accounts.access.saml.SamlSessionCap",
]
