"""Staff SSO over SAML 2.0 (django-allauth's SAML provider), configured from the environment.

SAML is on when ``SAML_IDP_ENTITY_ID``, ``SAML_IDP_SSO_URL`` and ``SAML_IDP_X509_CERT`` (the
IdP's signing certificate, PEM or bare base64) are set. ``SAML_SP_ENTITY_ID`` is our entity id
(default: the SP metadata URL). The SP lives under ``/accounts/saml/<SAML_ORGANIZATION_SLUG>/``:
``metadata/`` (SP metadata), ``login/`` (starts the login, HTTP-Redirect binding) and ``acs/``
(assertion consumer service, HTTP-POST binding).

- Assertions must be signed by the IdP's certificate and name our entity id as audience;
  python3-saml's strict mode also checks destination, recipient, lifetime and InResponseTo.
  IdP-initiated logins are refused.
- The IdP's ``SAML_GROUPS_ATTRIBUTE`` (default ``groups``) is mapped to roles on every login
  through ``SSO_GROUP_ROLE_MAP`` (config/settings/oidc.py), as for OIDC; a user with no mapped
  group is refused (accounts.access.saml).
- A first login links to an existing account by e-mail only if the address is verified: an
  ``email_verified`` attribute, or ``SAML_IDP_EMAILS_VERIFIED=true`` when the IdP's mail attribute
  comes from a directory its users cannot edit.
- Sessions last ``SAML_SESSION_MAX_SECONDS`` (default ``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS``),
  then go back through the IdP. With ``SAML_IDP_SLO_URL`` (the IdP's single-logout service,
  HTTP-Redirect binding), logging out sends a LogoutRequest there; the SP's single-logout
  endpoint is ``/accounts/saml/<slug>/sls/`` (in the SP metadata).
- ``allauth.socialaccount`` and its SAML provider are always installed (so migrations do not
  depend on the environment); without the IdP settings there is no SAML app and its URLs 404.
"""

from __future__ import annotations

from typing import Any

from config.settings.env import env

SAML_IDP_ENTITY_ID: str = env.str("SAML_IDP_ENTITY_ID", default="")
SAML_IDP_SSO_URL: str = env.str("SAML_IDP_SSO_URL", default="")
SAML_IDP_X509_CERT: str = env.str("SAML_IDP_X509_CERT", default="")
SAML_IDP_SLO_URL: str = env.str("SAML_IDP_SLO_URL", default="")
SAML_IDP_EMAILS_VERIFIED: bool = env.bool("SAML_IDP_EMAILS_VERIFIED", default=False)
SAML_SP_ENTITY_ID: str = env.str("SAML_SP_ENTITY_ID", default="")
SAML_ORGANIZATION_SLUG: str = env.str("SAML_ORGANIZATION_SLUG", default="switchboard")
SAML_GROUPS_ATTRIBUTE: str = env.str("SAML_GROUPS_ATTRIBUTE", default="groups")
SAML_ENABLED: bool = all((SAML_IDP_ENTITY_ID, SAML_IDP_SSO_URL, SAML_IDP_X509_CERT))
# A SAML session ends this long after its login (accounts.access.saml.SamlSessionCap); default: the OIDC
# session re-check interval, so both kinds of SSO session follow the IdP on one schedule.
SAML_SESSION_MAX_SECONDS: int = env.int(
    "SAML_SESSION_MAX_SECONDS",
    default=env.int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", default=900),
)

SAML_APPS = ["allauth.socialaccount", "allauth.socialaccount.providers.saml"]


def saml_app(
    *,
    idp_entity_id: str,
    idp_sso_url: str,
    idp_x509_cert: str,
    sp_entity_id: str = "",
    slug: str = "switchboard",
    groups_attribute: str = "groups",
    idp_slo_url: str = "",
    emails_verified: bool = False,
) -> dict[str, Any]:
    """One allauth SAML app (``SOCIALACCOUNT_PROVIDERS["saml"]["APPS"]`` entry)."""
    return {
        "name": "SAML",
        "provider_id": "saml",
        "client_id": slug,
        "settings": {
            "idp": {
                "entity_id": idp_entity_id,
                "sso_url": idp_sso_url,
                "x509cert": idp_x509_cert,
                **({"slo_url": idp_slo_url} if idp_slo_url else {}),
            },
            **({"sp": {"entity_id": sp_entity_id}} if sp_entity_id else {}),
            "attribute_mapping": {
                "uid": ["uid", "urn:oasis:names:tc:SAML:attribute:subject-id"],
                "email": [
                    "mail",
                    "email",
                    "urn:oid:0.9.2342.19200300.100.1.3",
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                ],
                "first_name": [
                    "givenName",
                    "urn:oid:2.5.4.42",
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
                ],
                "last_name": ["sn", "urn:oid:2.5.4.4"],
                "username": ["uid"],
                "email_verified": ["email_verified", "http://schemas.auth0.com/email_verified"],
            },
            "groups_attribute": groups_attribute,
            # The IdP vouches for every e-mail it asserts (linking to existing accounts by it).
            "emails_verified": emails_verified,
            "advanced": {
                "strict": True,
                "want_assertion_signed": True,
                "want_message_signed": False,
                "reject_idp_initiated_sso": True,
                "allow_repeat_attribute_name": True,
                "reject_deprecated_algorithm": True,
            },
        },
    }


SOCIALACCOUNT_ADAPTER = "accounts.access.saml.StaffSocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SAML_PROVIDER_CLASS = "accounts.access.saml.StaffSAMLProvider"


def saml_providers(apps: list[dict[str, Any]]) -> dict[str, Any]:
    """``SOCIALACCOUNT_PROVIDERS`` with these SAML apps and our provider class (which keeps what
    single logout needs)."""
    return {"saml": {"APPS": apps, "provider_class": SAML_PROVIDER_CLASS}}


SOCIALACCOUNT_PROVIDERS: dict[str, Any] = saml_providers(
    [
        saml_app(
            idp_entity_id=SAML_IDP_ENTITY_ID,
            idp_sso_url=SAML_IDP_SSO_URL,
            idp_x509_cert=SAML_IDP_X509_CERT,
            sp_entity_id=SAML_SP_ENTITY_ID,
            slug=SAML_ORGANIZATION_SLUG,
            groups_attribute=SAML_GROUPS_ATTRIBUTE,
            idp_slo_url=SAML_IDP_SLO_URL,
            emails_verified=SAML_IDP_EMAILS_VERIFIED,
        )
    ]
    if SAML_ENABLED
    else []
)
