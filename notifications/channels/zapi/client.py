"""The Z-API HTTP API (CONTRACTS §7) through the shared ``ProviderClient``.

Every call goes to ``<ZAPI_API_BASE>/instances/<ZAPI_INSTANCE_ID>/token/<ZAPI_INSTANCE_TOKEN>/``
with ``Client-Token: <ZAPI_CLIENT_TOKEN>`` and a JSON body. The instance token (in the path) and
the client token are the client's ``secret_values``: they never reach a ProviderCall row or a log
line.

Z-API takes no idempotency key. Sends carry our reference (``notification:<pk>``) as the
ledger's idempotency key only (``idempotency_header=None``), so the shared client never repeats a
send that may have gone through (a read timeout, a 5xx); the adapter decides, after reading the
chat back (``recent_messages``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from integrations.exceptions import ProviderUnavailable
from integrations.outbound.client import DEFAULT_SECRET_HEADERS, ProviderClient

PROVIDER = "zapi"
CLIENT_TOKEN_HEADER = "Client-Token"  # noqa: S105 (a header name)


@dataclass(frozen=True)
class SentIds:
    message_id: str
    """WhatsApp's id, the one status callbacks name (``ids``)."""
    zaap_id: str
    """Z-API's own id."""


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat as ``chat-messages`` answers it (only what duplicate checks need)."""

    message_id: str
    from_me: bool
    moment_ms: int
    text: str
    caption: str
    file_name: str


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"{PROVIDER}: the answer is not JSON (HTTP {response.status_code}).",
            provider=PROVIDER,
            status_code=response.status_code,
        ) from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def _chat_message(item: Mapping[str, Any]) -> ChatMessage | None:
    message_id = _text(item.get("messageId"))
    moment = item.get("momment")
    if not message_id or isinstance(moment, bool) or not isinstance(moment, int):
        return None
    text, image, document = (_object(item, key) for key in ("text", "image", "document"))
    return ChatMessage(
        message_id=message_id,
        from_me=item.get("fromMe") is True,
        moment_ms=moment,
        text=_text(text.get("message")),
        caption=_text(image.get("caption")) or _text(document.get("caption")),
        file_name=_text(document.get("fileName")),
    )


class ZapiClient:
    """One method per call. Raises ``ProviderRejected`` (4xx, never retried),
    ``ProviderUnavailable``/``CircuitOpen`` (retry later) and ``RuntimeError`` inside
    ``transaction.atomic``."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        base = str(settings.ZAPI_API_BASE).rstrip("/")
        self.http = ProviderClient(
            PROVIDER,
            f"{base}/instances/{settings.ZAPI_INSTANCE_ID}/token/{settings.ZAPI_INSTANCE_TOKEN}",
            default_headers={
                CLIENT_TOKEN_HEADER: str(settings.ZAPI_CLIENT_TOKEN),
                "Accept": "application/json",
            },
            secret_headers=(*DEFAULT_SECRET_HEADERS, CLIENT_TOKEN_HEADER.lower()),
            secret_values=tuple(
                value
                for value in (settings.ZAPI_INSTANCE_TOKEN, settings.ZAPI_CLIENT_TOKEN)
                if value
            ),
            session=session,
            **kwargs,
        )

    def send(
        self, *, operation: str, path: str, body: Mapping[str, Any], reference: str
    ) -> SentIds:
        """``POST <path>`` (``send-text``, ``send-image``, ``send-document/<ext>``) with ``body``;
        the ids Z-API answers. ``reference`` keys the ProviderCall rows (never sent: Z-API has
        no idempotency key), so a send that may have gone through is not repeated here."""
        response = self.http.request(
            operation,
            "POST",
            path,
            json=dict(body),
            idempotency_key=reference,
            idempotency_header=None,
        )
        answer = _json(response)
        message_id = _text(answer.get("messageId")) if isinstance(answer, dict) else ""
        if not message_id:
            raise ProviderUnavailable(
                f"{PROVIDER} {operation}: the answer carries no messageId.",
                provider=PROVIDER,
                operation=operation,
                status_code=response.status_code,
            )
        return SentIds(message_id=message_id, zaap_id=_text(answer.get("zaapId")))

    def recent_messages(self, *, phone: str, amount: int) -> list[ChatMessage]:
        """The chat's latest ``amount`` messages (``GET chat-messages/<phone>``), ours and the
        customer's; entries without an id or a time are skipped."""
        response = self.http.request(
            "message.lookup", "GET", f"chat-messages/{phone}", params={"amount": amount}
        )
        answer = _json(response)
        if not isinstance(answer, list):
            raise ProviderUnavailable(
                f"{PROVIDER} message.lookup: the answer is not a list.",
                provider=PROVIDER,
                operation="message.lookup",
                status_code=response.status_code,
            )
        found = (_chat_message(item) for item in answer if isinstance(item, dict))
        return [message for message in found if message is not None]
