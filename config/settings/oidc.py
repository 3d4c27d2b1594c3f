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
  group, is logged out here at that point instead of when the Django session expires.
"""

from __future__ import annotations

import json
from typing import Any

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


OIDC_RP_CLIENT_ID: str = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET: str = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_DISCOVERY_URL: str = env.str("OIDC_OP_DISCOVERY_URL", default="")
OIDC_OP_ISSUER: str = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT: str = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT: str = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT: str = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT: str = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
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

OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_RP_SCOPES: str = env.str("OIDC_RP_SCOPES", default="openid email profile groups")
OIDC_GROUPS_CLAIM: str = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_TIMEOUT: int = env.int("OIDC_TIMEOUT", default=10)
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS: int = env.int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", default=900)
SSO_GROUP_ROLE_MAP: dict[str, str] = parse_group_role_map(env.str("SSO_GROUP_ROLE_MAP", default=""))

OIDC_AUTHENTICATE_CLASS = "accounts.oidc.SSOAuthenticateView"
OIDC_CALLBACK_CLASS = "accounts.oidc.SSOCallbackView"
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/sso/no-access/"

AUTHENTICATION_BACKENDS = [
    "accounts.auth.PasswordLoginBackend",  # break-glass password login (settings/security.py)
    *(["accounts.oidc.StaffOIDCBackend"] if OIDC_ENABLED else []),
]
# Appended to MIDDLEWARE by base.py: the periodic re-check against the IdP (SessionRefresh).
OIDC_MIDDLEWARE = ["accounts.oidc.SSOSessionRecheck"] if OIDC_ENABLED else []
