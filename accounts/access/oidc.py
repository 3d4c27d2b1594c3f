"""Staff SSO: the OIDC backend, its views and the session re-check (see config/settings/oidc.py).

At every SSO login the user's role groups are replaced by the roles their IdP groups map to
(``SSO_GROUP_ROLE_MAP``); a change is written to the audit log. Someone with no mapped group is
refused (and, if they had an account, loses staff access and roles here); the callback then shows
``sso-no-access``.

Who is who: the user is found by the IdP's ``(iss, sub)`` (``SsoIdentity``, stored at the first
login). A first login links to an existing account with the same e-mail only when the IdP says
the address is verified (``email_verified``), and never to an account already bound to another
subject of that IdP; otherwise it is refused, and that account is left as it was.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from mozilla_django_oidc.auth import (  # type: ignore[import-untyped]
    OIDCAuthenticationBackend,
    default_username_algo,
)
from mozilla_django_oidc.middleware import SessionRefresh  # type: ignore[import-untyped]
from mozilla_django_oidc.utils import import_from_settings  # type: ignore[import-untyped]
from mozilla_django_oidc.views import (  # type: ignore[import-untyped]
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from accounts.access.audit import Action, audit_record
from accounts.access.roles import ROLES
from accounts.models import SsoIdentity, User

logger = logging.getLogger(__name__)

# Why the last SSO attempt was refused; read (once) by the no-access page.
REFUSAL_SESSION_KEY = "sso_refusal"
NO_ROLE, INVALID, IDP_ERROR, UNAVAILABLE = "no_role", "invalid", "idp_error", "unavailable"

_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_ISSUER": "issuer",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


def sso_enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


# Discovery documents by URL: (monotonic expiry, document); a failed fetch is cached (empty) for a
# short while so an unreachable IdP does not slow every request down.
_DISCOVERY_CACHE: dict[str, tuple[float, dict[str, Any]]] = {}
DISCOVERY_TTL_SECONDS = 3600.0
DISCOVERY_RETRY_SECONDS = 30.0


def _discovery(url: str) -> dict[str, Any]:
    now = time.monotonic()
    cached = _DISCOVERY_CACHE.get(url)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        response = requests.get(url, timeout=getattr(settings, "OIDC_TIMEOUT", 10))  # nosec B113  # a timeout is passed (OIDC_TIMEOUT, 10 s default)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("discovery document is not an object")
        # OpenID Connect Discovery 1.0, 4.3: the issuer is the URL the document was read under,
        # so a document (or a cache, or a proxy) cannot name another issuer.
        if url.endswith(DISCOVERY_SUFFIX) and document.get("issuer") != url.removesuffix(
            DISCOVERY_SUFFIX
        ):
            raise ValueError(f"discovery names issuer {document.get('issuer')!r}, not its own URL")
        ttl = DISCOVERY_TTL_SECONDS
    except (requests.RequestException, ValueError) as exc:
        logger.warning("OIDC discovery failed: %s", exc, extra={"url": url})
        document, ttl = {}, DISCOVERY_RETRY_SECONDS
    _DISCOVERY_CACHE[url] = (now + ttl, document)
    return document


def oidc_setting(attr: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; IdP endpoints not set explicitly come from discovery."""
    explicit = getattr(settings, attr, None)
    discovery_url = getattr(settings, "OIDC_OP_DISCOVERY_URL", "")
    if attr in _DISCOVERED and not explicit and discovery_url:
        return _discovery(discovery_url).get(_DISCOVERED[attr], "")
    return import_from_settings(attr, *default)


def _refuse(request: HttpRequest | None, reason: str) -> None:
    if request is not None:
        setattr(request, REFUSAL_SESSION_KEY, reason)


def roles_for_groups(groups: Any) -> list[str]:
    """The roles that a ``groups`` claim maps to through ``SSO_GROUP_ROLE_MAP``, in role order."""
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list | tuple):
        return []
    mapping: dict[str, str] = settings.SSO_GROUP_ROLE_MAP
    mapped = {mapping[g] for g in groups if isinstance(g, str) and g in mapping}
    return [role for role in ROLES if role in mapped]


def current_roles(user: User) -> set[str]:
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


def set_roles(user: User, roles: list[str], *, source: str = "sso") -> bool:
    """Make ``user``'s role groups exactly ``roles`` (other groups stay) and is_staff match.
    A change is one audit entry (``sso_roles_changed``, actor ``idp:<source>``) in the caller's
    transaction. Returns whether anything changed."""
    role_groups = {g.name: g for g in Group.objects.filter(name__in=ROLES)}
    for role in roles:
        if role not in role_groups:
            role_groups[role], _ = Group.objects.get_or_create(name=role)
    current = current_roles(user)
    stale = [role_groups[name] for name in current - set(roles)]
    if stale:
        user.groups.remove(*stale)
    fresh = [role_groups[name] for name in set(roles) - current]
    if fresh:
        user.groups.add(*fresh)
    was_staff = user.is_staff
    if user.is_staff != bool(roles):
        user.is_staff = bool(roles)
        user.save(update_fields=["is_staff"])
    if not (stale or fresh or was_staff != user.is_staff):
        return False
    changes: dict[str, Any] = {
        "roles": [[r for r in ROLES if r in current], [r for r in ROLES if r in roles]]
    }
    if was_staff != user.is_staff:
        changes["is_staff"] = [was_staff, user.is_staff]
    audit_record(
        action=Action.SSO_ROLES_CHANGED,
        actor_label=f"idp:{source}",
        obj=user,
        changes=changes,
        summary=f"Roles of {user.get_username()} set from the identity provider ({source}).",
    )
    return True


def email_verified(claims: dict[str, Any]) -> bool:
    """Whether the IdP vouches for the e-mail claim (``email_verified`` true; some IdPs send it
    as the string "true")."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _timestamp(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return timezone.now()


def sso_user_for_claims(
    *,
    issuer: str,
    claims: dict[str, Any],
    stated_at: datetime,
    source: str,
    authoritative: bool,
    request: HttpRequest | None = None,
) -> User:
    """The staff user an IdP statement (verified ID-token + userinfo claims, or a verified
    access token) is about, with roles set from its groups.

    The user is found by ``(issuer, sub)``; a first statement for a subject links to the
    account with the same e-mail only if ``email_verified`` is true and that account is not
    bound to another subject of this issuer, else creates an account (if the e-mail is new).
    ``authoritative`` statements (interactive logins) set the roles; a bearer token set roles
    only when issued after the last statement that did, else it may only take roles away.

    Raises SuspiciousOperation (nothing changed) for a statement that cannot be tied to one
    account, PermissionDenied when no role is mapped (an existing account then loses its roles
    and staff access)."""
    subject = claims.get("sub")
    if not issuer or not isinstance(subject, str) or not subject:
        raise SuspiciousOperation("The statement names no issuer or subject")
    identity = (
        SsoIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    user: User | None = identity.user if identity is not None else None
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    verified = email_verified(claims)
    if user is None and email:
        matches = list(User.objects.filter(email__iexact=email)[:2])
        if matches and not verified:
            raise SuspiciousOperation(
                "An unverified e-mail address matches an existing account; not linking"
            )
        if len(matches) > 1:
            raise SuspiciousOperation("Several users have this e-mail address")
        if matches and SsoIdentity.objects.filter(user=matches[0], issuer=issuer).exists():
            raise SuspiciousOperation(
                "The account with this e-mail is bound to another subject of this IdP"
            )
        user = matches[0] if matches else None
    groups_claim = oidc_setting("OIDC_GROUPS_CLAIM", "groups")
    roles = roles_for_groups(claims.get(groups_claim))
    stale = (
        not authoritative
        and identity is not None
        and identity.roles_stated_at is not None
        and stated_at <= identity.roles_stated_at
    )
    if stale and user is not None:
        held = current_roles(user)
        roles = [role for role in roles if role in held]
    if not roles:
        if user is not None:
            with transaction.atomic():
                set_roles(user, [], source=source)
        logger.info("SSO refused: no mapped group", extra={"sub": subject, "source": source})
        _refuse(request, NO_ROLE)
        raise PermissionDenied("None of this user's IdP groups maps to a role")
    with transaction.atomic():
        if user is None:
            if not email:
                raise SuspiciousOperation("A first login needs an e-mail address")
            user = _create_user(claims)
        if identity is None:
            identity = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
            audit_record(
                action=Action.SSO_IDENTITY_LINKED,
                actor_label=f"idp:{source}",
                obj=user,
                changes={"subject": [None, subject], "issuer": [None, issuer]},
                summary=f"{user.get_username()} signs in as {subject} at {issuer}.",
            )
        _update_user(user, claims, verified=verified)
        set_roles(user, roles, source=source)
        fields = []
        if not stale:
            identity.roles_stated_at = max(stated_at, identity.roles_stated_at or stated_at)
            fields.append("roles_stated_at")
        if authoritative:
            identity.last_login_at = timezone.now()
            fields.append("last_login_at")
        if fields:
            identity.save(update_fields=fields)
    return user


def _create_user(claims: dict[str, Any]) -> User:
    username = str(claims.get("preferred_username") or "").strip()[:150]
    if not username or User.objects.filter(username__iexact=username).exists():
        username = default_username_algo(claims["email"], claims)
    user = User(username=username, email=claims["email"])
    user.set_unusable_password()
    user.save()
    return user


def _update_user(user: User, claims: dict[str, Any], *, verified: bool) -> None:
    """Names from the claims; the e-mail only when the IdP vouches for it."""
    first, last = claims.get("given_name"), claims.get("family_name")
    if not first and not last and claims.get("name"):
        first, _, last = str(claims["name"]).partition(" ")
    fields = {"first_name": str(first or "")[:150], "last_name": str(last or "")[:150]}
    if verified and claims.get("email"):
        fields["email"] = str(claims["email"])
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=changed)


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """Creates/updates staff users from verified claims and maps IdP groups to roles."""

    get_settings = staticmethod(oidc_setting)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None or not sso_enabled() or "code" not in request.GET:
            return None
        try:
            user: User | None = super().authenticate(request, **kwargs)
        except (SuspiciousOperation, requests.RequestException) as exc:
            logger.warning("SSO login refused: %s", exc)
            _refuse(request, INVALID)
            return None
        if user is None and not hasattr(request, REFUSAL_SESSION_KEY):
            _refuse(request, INVALID)
        return user

    def retrieve_matching_jwk(self, token: str) -> Any:
        """The IdP's key for this token; a token of another algorithm or without kid is refused."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Malformed token: {exc}") from exc
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"Token algorithm {header.get('alg')!r} is not allowed")
        if not isinstance(header.get("kid"), str):
            raise SuspiciousOperation("Token names no signing key (kid)")
        return super().retrieve_matching_jwk(token)

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        """Signature, algorithm, audience, issuer and lifetime (the library skips ``aud``)."""
        try:
            header = jwt.get_unverified_header(payload)
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Malformed token: {exc}") from exc
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"Token algorithm {header.get('alg')!r} is not allowed")
        issuer = self.get_settings("OIDC_OP_ISSUER", "")
        if not issuer:  # discovery failed or named no issuer: nothing to check iss against
            raise SuspiciousOperation("The IdP's issuer is unknown; refusing the token")
        required = ["exp", "iat", "aud", "sub", "iss"]
        try:
            claims: dict[str, Any] = jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=issuer,
                options={"require": required},
                leeway=30,
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Token refused: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("Token has several audiences and another azp")
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        """Users by the IdP's subject (never by e-mail; see ``sso_user_for_claims``)."""
        issuer = self.get_settings("OIDC_OP_ISSUER", "")
        return User.objects.filter(
            sso_identities__issuer=issuer, sso_identities__subject=str(claims.get("sub") or "")
        )

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        claims: dict[str, Any] = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo and ID token name different subjects")
        if not self.verify_claims(claims):
            raise SuspiciousOperation("Claims verification failed (need sub)")
        return sso_user_for_claims(
            issuer=str(payload.get("iss") or ""),
            claims=claims,
            stated_at=_timestamp(payload.get("iat")),
            source="oidc",
            authoritative=True,
            request=self.request,
        )


def oidc_logout_url(request: HttpRequest, return_to: str) -> str | None:
    """The IdP's end-session URL for this session (OIDC RP-initiated logout: the session's ID
    token as ``id_token_hint``, ``return_to`` as ``post_logout_redirect_uri``), or None when the
    session did not sign in through OIDC or the IdP has no end-session endpoint."""
    id_token = request.session.get("oidc_id_token")
    if not sso_enabled() or not isinstance(id_token, str) or not id_token:
        return None
    endpoint = oidc_setting("OIDC_OP_LOGOUT_ENDPOINT", "")
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": oidc_setting("OIDC_RP_CLIENT_ID"),
            "post_logout_redirect_uri": return_to,
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


class SSOAuthenticateView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("SSO is not configured")
        if not self.OIDC_OP_AUTH_ENDPOINT:
            request.session[REFUSAL_SESSION_KEY] = UNAVAILABLE
            return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)
        response: HttpResponse = super().get(request)
        return response


class SSOCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("SSO is not configured")
        response: HttpResponse = super().get(request)
        return response

    def login_failure(self) -> HttpResponse:
        """No session survives a refused login or a failed re-check."""
        request: HttpRequest = self.request
        reason = getattr(
            request, REFUSAL_SESSION_KEY, IDP_ERROR if "error" in request.GET else INVALID
        )
        if request.user.is_authenticated:
            auth.logout(request)
        request.session[REFUSAL_SESSION_KEY] = reason
        response: HttpResponse = super().login_failure()
        return response


class SSOSessionRecheck(SessionRefresh):
    """Sends SSO sessions back to the IdP (``prompt=none``) every
    ``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS``; the callback re-maps roles or logs the user out."""

    get_settings = staticmethod(oidc_setting)
    OIDC_OP_AUTHORIZATION_ENDPOINT: str

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        request.sso_enabled = True  # type: ignore[attr-defined]  # read by admin/login.html
        if not self.OIDC_OP_AUTHORIZATION_ENDPOINT:
            self.OIDC_OP_AUTHORIZATION_ENDPOINT = self.get_settings(
                "OIDC_OP_AUTHORIZATION_ENDPOINT"
            )
        response: HttpResponse | None = super().process_request(request)
        return response
