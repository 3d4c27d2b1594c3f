"""Posting one alert to Slack, through the shared outbound client (ledger, timeouts, retries,
the ``slack`` circuit breaker).

Two ways in, by settings: an incoming webhook (``SLACK_WEBHOOK_URL``: answers ``ok``, or 400
``invalid_payload``, 403 ``action_prohibited``, 404 ``no_service``/``channel_not_found``, 410
``channel_is_archived``, 429 with ``Retry-After``), or the Web API's ``chat.postMessage`` with a
bot token (``SLACK_BOT_TOKEN``; HTTP 200 with ``{"ok": true}`` or ``{"ok": false, "error"}``,
429 with ``Retry-After``) and a channel per alert kind. The message is Block Kit built with
``slack_sdk.models.blocks``; slack-sdk's own HTTP clients are not used (they bypass the ledger
and the breaker). The webhook URL and the token are secrets: the client scrubs them from every
ProviderCall row and log line.

Slack takes no idempotency key; a post that timed out may have gone through, so the client does
not repeat it in-process and the alert's retry may post it twice (a duplicate alert, never a
lost one).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import StaffAlert
from integrations.outbound.client import ProviderClient

PROVIDER = "slack"
# chat.postMessage errors that mean "not now" (Slack's own docs); any other error is terminal.
RETRYABLE_API_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
HEADER_MAX = 150  # Block Kit's limit on a header's text
SECTION_MAX = 3000


def channel_for(kind: str) -> str:
    channels = settings.SLACK_CHANNELS or {}
    return str(channels.get(kind) or settings.SLACK_DEFAULT_CHANNEL)


def alert_blocks(alert: StaffAlert, *, base_url: str = "") -> list[dict[str, Any]]:
    """The alert as Block Kit: a header, the text, the repeat counter and kind, a button to
    the admin page."""
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=alert.title[:HEADER_MAX]))]
    if alert.text:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=alert.text[:SECTION_MAX])))
    context = [f"*{alert.get_kind_display()}* for {alert.role}"]
    if alert.previous_repeats:
        context.append(
            f"happened {alert.previous_repeats} more time(s) since the last alert (held back)"
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))
    if alert.url and (base_url or alert.url).startswith("http"):
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text="Open in Switchboard"),
                        url=f"{base_url.rstrip('/')}{alert.url}" if base_url else alert.url,
                        action_id="open",
                    )
                ]
            )
        )
    return [block.to_dict() for block in blocks]


def alert_text(alert: StaffAlert) -> str:
    """The plain-text fallback (notifications, clients without Block Kit)."""
    repeats = (
        f" (happened {alert.previous_repeats} more time(s) since the last alert)"
        if alert.previous_repeats
        else ""
    )
    return f"{alert.title}{repeats}"


class SlackClient:
    """``post(alert)`` returns when Slack took the message. Raises ProviderRejected (terminal:
    a wrong URL or token, an unknown channel, a refused payload), ProviderUnavailable or
    CircuitOpen (retry later), RuntimeError inside ``transaction.atomic``."""

    def __init__(self, *, session: requests.Session | None = None, sleep: Any = None) -> None:
        self.session = session
        self.sleep = sleep

    def _client(self, base_url: str, headers: dict[str, str], secrets: list[str]) -> ProviderClient:
        kwargs: dict[str, Any] = {"sleep": self.sleep} if self.sleep is not None else {}
        return ProviderClient(
            PROVIDER,
            base_url,
            default_headers=headers,
            secret_values=tuple(s for s in secrets if s),
            session=self.session,
            **kwargs,
        )

    def post(self, alert: StaffAlert) -> None:
        payload = {
            "text": alert_text(alert),
            "blocks": alert_blocks(alert, base_url=settings.OPS_ALERT_BASE_URL),
        }
        key = f"staff_alert:{alert.pk}"
        if settings.SLACK_BOT_TOKEN:
            self._post_message(alert, {**payload, "channel": channel_for(alert.kind)}, key)
        else:
            self._post_webhook(alert, payload, key)

    def _post_webhook(self, alert: StaffAlert, payload: dict[str, Any], key: str) -> None:
        url = str(settings.SLACK_WEBHOOK_URL)
        parts = urlsplit(url)
        secret_path = parts.path.lstrip("/")
        client = self._client(
            f"{parts.scheme}://{parts.netloc}",
            {"Content-Type": "application/json"},
            [url, secret_path, secret_path.rsplit("/", 1)[-1]],
        )
        try:
            client.request(
                "incoming_webhook",
                "POST",
                parts.path,
                json=payload,
                idempotency_key=key,
                idempotency_header=None,
                subject=alert,
            )
        except ProviderRejected as exc:
            raise ProviderRejected(
                f"{exc.detail}: {_body(exc.response)}",
                provider=PROVIDER,
                operation="incoming_webhook",
                status_code=exc.status_code,
            ) from None

    def _post_message(self, alert: StaffAlert, payload: dict[str, Any], key: str) -> None:
        token = str(settings.SLACK_BOT_TOKEN)
        client = self._client(
            str(settings.SLACK_API_BASE),
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json; charset=utf-8",
            },
            [token],
        )
        response = client.request(
            "chat.postMessage",
            "POST",
            "chat.postMessage",
            json=payload,
            idempotency_key=key,
            idempotency_header=None,
            subject=alert,
        )
        try:
            answer = response.json()
        except ValueError:
            raise ProviderUnavailable(
                "slack chat.postMessage: the answer is not JSON", provider=PROVIDER
            ) from None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return
        error = str(answer.get("error") if isinstance(answer, dict) else "")[:100] or "unknown"
        if error in RETRYABLE_API_ERRORS:
            raise ProviderUnavailable(
                f"slack chat.postMessage: {error}", provider=PROVIDER, operation="chat.postMessage"
            )
        raise ProviderRejected(
            f"slack chat.postMessage: {error}",
            provider=PROVIDER,
            operation="chat.postMessage",
            status_code=response.status_code,
        )


def _body(response: requests.Response | None) -> str:
    """Slack's short error word from a webhook's refusal (``invalid_payload``, ``no_service``)."""
    if response is None:
        return "-"
    text = response.text.strip()[:100]
    return text if text.replace("_", "").isalnum() else "-"
