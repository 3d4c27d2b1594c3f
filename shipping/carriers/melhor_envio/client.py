"""The Melhor Envio HTTP API (``/api/v2``) through the shared ``ProviderClient``, with OAuth2.

Bearer tokens live encrypted in ``ProviderCredential`` rows (``integrations.credentials``):
``access_token`` (with its expiry) and ``refresh_token``. Before a call the access token is
refreshed when it expires within ``MELHOR_ENVIO_REFRESH_MARGIN_SECONDS``; a 401 refreshes it
once and repeats the call. Tokens, the client secret and the refresh grant's body never reach
a log line or a ProviderCall row (they are the client's ``secret_values``; bodies are never
logged). Every request carries ``User-Agent: <app name> (<contact e-mail>)``.

Melhor Envio has no idempotency keys (CONTRACTS §3); mutating calls are therefore never
retried blindly by the client (it sends no key), and the adapter re-reads the order instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import models
from django.utils import timezone

from integrations.credentials import credential_get, credential_set
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.outbound.client import ProviderClient

PROVIDER = "melhor_envio"
ACCESS, REFRESH = "access_token", "refresh_token"


class TokenMissing(ProviderRejected):
    """No usable token: the app must be authorised again (a new refresh token in
    MELHOR_ENVIO_REFRESH_TOKEN)."""

    code = "carrier_token_missing"
    http_status = 503
    title = "Carrier authorisation needed"


def user_agent() -> str:
    return f"{settings.MELHOR_ENVIO_APP_NAME} ({settings.MELHOR_ENVIO_CONTACT_EMAIL})"


def token_url() -> str:
    if settings.MELHOR_ENVIO_TOKEN_URL:
        return str(settings.MELHOR_ENVIO_TOKEN_URL)
    parts = urlsplit(settings.MELHOR_ENVIO_API_BASE)
    path = parts.path.rstrip("/").removesuffix("/api/v2")
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/oauth/token", "", ""))


def loads(response: requests.Response) -> Any:
    """The answer's JSON with decimals as ``Decimal`` (prices are BRL decimals)."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ProviderUnavailable(
            f"{PROVIDER}: the answer is not JSON (HTTP {response.status_code}).",
            provider=PROVIDER,
            status_code=response.status_code,
        ) from None


class MelhorEnvioClient:
    """One method per call; each returns decoded JSON. Raises ``ProviderRejected`` (4xx),
    ``TokenMissing``, ``ProviderUnavailable``/``CircuitOpen`` (retry later) and
    ``RuntimeError`` inside ``transaction.atomic``."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        max_attempts: int | None = None,
        sleep: Any = None,
    ) -> None:
        self.session = session
        self.max_attempts = max_attempts
        self.sleep = sleep

    # Tokens ------------------------------------------------------------------------------

    def _secrets(self, *extra: str) -> tuple[str, ...]:
        values = [settings.MELHOR_ENVIO_CLIENT_SECRET, *extra]
        for name in (ACCESS, REFRESH):
            stored = credential_get(provider=PROVIDER, name=name)
            if stored is not None:
                values.append(stored.value)
        return tuple(v for v in values if v)

    def _http(self, base_url: str, headers: Mapping[str, str], *secrets: str) -> ProviderClient:
        kwargs: dict[str, Any] = {}
        if self.sleep is not None:
            kwargs["sleep"] = self.sleep
        return ProviderClient(
            PROVIDER,
            base_url,
            default_headers={"User-Agent": user_agent(), "Accept": "application/json", **headers},
            secret_values=self._secrets(*secrets),
            session=self.session,
            max_attempts=self.max_attempts,
            **kwargs,
        )

    def access_token(self) -> str:
        """A valid access token: the stored one, refreshed first when it expires within the
        margin; seeded from MELHOR_ENVIO_ACCESS_TOKEN when nothing is stored."""
        stored = credential_get(provider=PROVIDER, name=ACCESS)
        margin = timedelta(seconds=settings.MELHOR_ENVIO_REFRESH_MARGIN_SECONDS)
        if stored is not None and (
            stored.expires_at is None or stored.expires_at - margin > timezone.now()
        ):
            return stored.value
        if stored is None and not self._refresh_token() and settings.MELHOR_ENVIO_ACCESS_TOKEN:
            return credential_set(
                provider=PROVIDER, name=ACCESS, value=settings.MELHOR_ENVIO_ACCESS_TOKEN
            ).value
        return self.refresh()

    def _refresh_token(self) -> str:
        stored = credential_get(provider=PROVIDER, name=REFRESH)
        if stored is not None:
            return stored.value
        return str(settings.MELHOR_ENVIO_REFRESH_TOKEN or "")

    def refresh(self) -> str:
        """Trade the refresh token for new tokens (``POST /oauth/token``, grant
        ``refresh_token``), store both encrypted with the new expiry; the new access token."""
        refresh_token = self._refresh_token()
        if not refresh_token:
            raise TokenMissing(
                f"{PROVIDER}: no refresh token stored; authorise the app again and set "
                "MELHOR_ENVIO_REFRESH_TOKEN.",
                provider=PROVIDER,
                operation="oauth.refresh",
                status_code=401,
            )
        http = self._http(token_url().rsplit("/oauth/token", 1)[0], {}, refresh_token)
        try:
            response = http.request(
                "oauth.refresh",
                "POST",
                "oauth/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "client_id": settings.MELHOR_ENVIO_CLIENT_ID,
                    "client_secret": settings.MELHOR_ENVIO_CLIENT_SECRET,
                },
            )
        except ProviderRejected as exc:
            raise TokenMissing(
                f"{PROVIDER}: the refresh token was refused (HTTP {exc.status_code}); "
                "authorise the app again.",
                provider=PROVIDER,
                operation="oauth.refresh",
                status_code=exc.status_code,
            ) from None
        answer = loads(response)
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise ProviderUnavailable(
                f"{PROVIDER}: no access_token in the answer.", provider=PROVIDER
            )
        expires_in = answer.get("expires_in")
        expires_at = (
            timezone.now() + timedelta(seconds=int(expires_in))
            if isinstance(expires_in, int) and expires_in > 0
            else None
        )
        access = credential_set(
            provider=PROVIDER,
            name=ACCESS,
            value=str(answer["access_token"]),
            expires_at=expires_at,
        )
        if answer.get("refresh_token"):
            credential_set(provider=PROVIDER, name=REFRESH, value=str(answer["refresh_token"]))
        return access.value

    # Calls -------------------------------------------------------------------------------

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        subject: models.Model | None = None,
    ) -> Any:
        """One API call with a valid token; a 401 refreshes the token once and repeats."""
        for attempt in (1, 2):
            token = self.access_token() if attempt == 1 else self.refresh()
            http = self._http(
                settings.MELHOR_ENVIO_API_BASE,
                {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                token,
            )
            try:
                response = http.request(
                    operation,
                    method,
                    path,
                    data=json.dumps(body, default=str).encode() if body is not None else None,
                    params=params,
                    subject=subject,
                )
            except ProviderRejected as exc:
                if exc.status_code == 401 and attempt == 1:
                    continue
                raise
            return loads(response)
        raise AssertionError("unreachable")  # pragma: no cover
