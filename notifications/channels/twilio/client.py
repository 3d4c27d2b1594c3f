"""The only module that touches the ``twilio`` SDK.

The SDK builds the requests and reads the answers; the transport is ours: ``LedgerHttpClient``
(a ``twilio.http.HttpClient``) sends every exchange through the shared ``ProviderClient``
(timeouts, the circuit breaker, one ``ProviderCall`` row per attempt linked to the notification,
the Auth Token scrubbed). The SDK is pointed at ``TWILIO_API_BASE`` by the transport, which maps
the SDK's ``https://api.twilio.com`` URLs onto it (tests use a local fake).

Twilio takes no idempotency key for a message create, so the shared client never repeats a create
that may have gone through (a read timeout, a broken connection, a 5xx): it raises
``ProviderUnavailable`` and the adapter looks the message up before creating it again.

SDK objects never leave this module: callers get ``TwilioMessage``; SDK errors become
``RecipientUnreachable`` (21211, an invalid ``To``), ``RecipientOptedOut`` (21610, the number
sent STOP), ``ProviderRejected`` (other refusals) or ``ProviderUnavailable``.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.db import models
from twilio.base.exceptions import TwilioException, TwilioRestException  # type: ignore[import-untyped]
from twilio.http import HttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response as TwilioResponse  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.outbound.client import ProviderClient
from notifications.channels.base import RecipientUnreachable
from notifications.exceptions import RecipientOptedOut

PROVIDER = "twilio"
SDK_BASE = "https://api.twilio.com"
"""Where the SDK sends the Messages API; ``LedgerHttpClient`` maps it onto TWILIO_API_BASE."""
INVALID_TO = 21211
OPTED_OUT = 21610
ERROR_LENGTH = 200


class TwilioTransportError(ProviderRejected):
    """The SDK built a request we do not send (a URL outside the Twilio API base)."""

    code = "twilio_transport_error"
    http_status = 500
    title = "Twilio request not sent"


@dataclass(frozen=True)
class TwilioMessage:
    sid: str
    to: str
    from_: str
    body: str
    status: str
    direction: str
    date_created: datetime | None
    error_code: int | None = None


@dataclass(frozen=True)
class _CallContext:
    operation: str
    subject: models.Model | None


_CONTEXT: contextvars.ContextVar[_CallContext | None] = contextvars.ContextVar(
    "twilio_call_context", default=None
)


@contextmanager
def _call(operation: str, subject: models.Model | None) -> Iterator[None]:
    token = _CONTEXT.set(_CallContext(operation=operation, subject=subject))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class LedgerHttpClient(HttpClient):
    """A ``twilio.http.HttpClient`` that sends through ``ProviderClient``.

    The SDK hands over the absolute URL, query parameters, the form fields and basic auth
    (account SID, Auth Token). A 4xx answer goes back to the SDK, which raises its
    ``TwilioRestException`` with Twilio's error code; ``ProviderUnavailable`` (timeouts,
    connection errors, 5xx, circuit open) passes through."""

    def __init__(self, provider_client: ProviderClient) -> None:
        super().__init__(logger=logging.getLogger(__name__), is_async=False)
        self._client = provider_client

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        context = _CONTEXT.get() or _CallContext(
            operation=f"{method.lower()}_request", subject=None
        )
        if not uri.startswith(f"{SDK_BASE}/"):
            raise TwilioTransportError(
                f"{PROVIDER}: the SDK built a URL outside the Twilio API.",
                provider=PROVIDER,
                operation=context.operation,
            )
        sent = dict(headers or {})
        if auth is not None:
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            sent["Authorization"] = f"Basic {basic}"
        try:
            response = self._client.request(
                context.operation,
                method.upper(),
                uri[len(SDK_BASE) :],
                params=params,
                data=data if method.upper() in ("POST", "PUT") else None,
                headers=sent,
                subject=context.subject,
            )
        except ProviderRejected as exc:
            if exc.response is None:
                raise
            response = exc.response
        return TwilioResponse(response.status_code, response.text, response.headers)


def _rejection(operation: str, exc: TwilioRestException) -> ProviderRejected:
    code = exc.code if isinstance(exc.code, int) else 0
    message = str(exc.msg or "").split(": ", 1)[-1].strip()
    detail = f"Twilio {code}: {message}"[:ERROR_LENGTH]
    kind: type[ProviderRejected] = ProviderRejected
    if code == INVALID_TO:
        kind = RecipientUnreachable
    elif code == OPTED_OUT:
        kind = RecipientOptedOut
    return kind(detail, provider=PROVIDER, operation=operation, status_code=int(exc.status or 0))


def _message(instance: Any) -> TwilioMessage:
    code = instance.error_code
    return TwilioMessage(
        sid=str(instance.sid or ""),
        to=str(instance.to or ""),
        from_=str(instance.from_ or ""),
        body=str(instance.body or ""),
        status=str(instance.status or ""),
        direction=str(instance.direction or ""),
        date_created=instance.date_created,
        error_code=int(code) if isinstance(code, int) else None,
    )


class TwilioClient:
    """One method per call. Raises ``RecipientUnreachable``, ``RecipientOptedOut`` and
    ``ProviderRejected`` (terminal), ``ProviderUnavailable``/``CircuitOpen`` (retry later), and
    ``RuntimeError`` inside ``transaction.atomic``."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        account_sid = str(settings.TWILIO_ACCOUNT_SID)
        auth_token = str(settings.TWILIO_AUTH_TOKEN)
        kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = ProviderClient(
            PROVIDER,
            str(settings.TWILIO_API_BASE),
            secret_values=tuple(value for value in (auth_token,) if value),
            session=session,
            **kwargs,
        )
        self.sdk = Client(
            username=account_sid,
            password=auth_token,
            account_sid=account_sid,
            http_client=LedgerHttpClient(self.http),
            # Not os.environ: TWILIO_EDGE/TWILIO_REGION there would move the SDK's URLs.
            environment={"TWILIO_SETTINGS": "django"},
        )

    def create_message(
        self,
        *,
        to: str,
        body: str,
        from_: str = "",
        messaging_service_sid: str = "",
        status_callback: str = "",
        subject: models.Model | None = None,
        content_sid: str = "",
        content_variables: tuple[str, ...] = (),
    ) -> TwilioMessage:
        """``POST Messages.json``: one message from ``from_`` or through the messaging service,
        with Twilio's status callbacks to ``status_callback``. With ``content_sid`` it sends
        that approved template (``ContentSid``, and ``ContentVariables``: a JSON object
        ``{"1": ..., "2": ...}``) instead of ``body``. Never repeated here."""
        fields: dict[str, Any] = {"to": to}
        if content_sid:
            fields["content_sid"] = content_sid
            if content_variables:
                fields["content_variables"] = json.dumps(
                    {str(i): value for i, value in enumerate(content_variables, start=1)},
                    ensure_ascii=False,
                )
        else:
            fields["body"] = body
        if messaging_service_sid:
            fields["messaging_service_sid"] = messaging_service_sid
        else:
            fields["from_"] = from_
        if status_callback:
            fields["status_callback"] = status_callback
        with _call("message.create", subject):
            try:
                return _message(self.sdk.messages.create(**fields))
            except TwilioRestException as exc:
                raise _rejection("message.create", exc) from None
            except TwilioException as exc:
                raise ProviderUnavailable(
                    f"{PROVIDER} message.create: {type(exc).__name__}",
                    provider=PROVIDER,
                    operation="message.create",
                ) from None

    def recent_messages(
        self, *, to: str, limit: int, subject: models.Model | None = None
    ) -> list[TwilioMessage]:
        """The latest ``limit`` messages to ``to`` (``GET Messages.json?To=...``), newest first.

        No ``DateSent`` filter: a message Twilio has not sent yet (queued, accepted) has no
        date_sent, and it is exactly the one a lookup after a timeout is looking for."""
        with _call("message.lookup", subject):
            try:
                found = self.sdk.messages.list(to=to, limit=limit, page_size=limit)
            except TwilioRestException as exc:
                raise _rejection("message.lookup", exc) from None
            except TwilioException as exc:
                raise ProviderUnavailable(
                    f"{PROVIDER} message.lookup: {type(exc).__name__}",
                    provider=PROVIDER,
                    operation="message.lookup",
                ) from None
        return [_message(item) for item in found]
