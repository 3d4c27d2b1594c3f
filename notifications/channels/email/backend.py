"""anymail's Resend backend with our transport: the HTTP call goes through the shared outbound
client (timeouts, retries with the same Idempotency-Key, the circuit breaker, one ProviderCall
row per attempt, the API key scrubbed), and each message carries the Idempotency-Key its sender
set (``message.idempotency_key``; the notification's reference), so a retry after a timeout
never sends a second e-mail (Resend keeps the key's first answer).

anymail still builds the payload and reads the answer (``message.anymail_status``). A refusal
(4xx) raises ``ProviderRejected``, an outage ``ProviderUnavailable``: the notification workflow
handles both as it does for every channel.
"""

from __future__ import annotations

from typing import Any

import requests
from anymail.backends.resend import EmailBackend as AnymailResendBackend
from django.core.mail import EmailMessage

from integrations.outbound.client import ProviderClient

PROVIDER = "resend"


class ResendEmailBackend(AnymailResendBackend):
    def post_to_esp(self, payload: Any, message: EmailMessage) -> requests.Response:
        params = payload.get_request_params(self.api_url)
        base = str(self.api_url)
        url = str(params["url"])
        path = url[len(base) :] if url.startswith(base) else url
        client = ProviderClient(PROVIDER, base, secret_values=[str(self.api_key)])
        return client.request(
            "email.send",
            str(params.get("method", "POST")),
            path,
            data=params.get("data"),
            headers=dict(params.get("headers") or {}),
            idempotency_key=getattr(message, "idempotency_key", None) or None,
        )
