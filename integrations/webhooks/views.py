"""``POST /webhooks/<provider>/``: verify the raw body, store once, answer fast.

Status codes: 200 stored or already stored; 400 malformed; 401 bad or stale signature (the attempt
is recorded as a WebhookRejection); 404 unknown provider; 405 not POST; 413 body too big.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.webhooks.inbox import scrub_headers, webhook_event_store, webhook_rejection_record
from integrations.webhooks.registry import (
    MalformedWebhook,
    SignatureRejected,
    WebhookEndpoint,
    get_webhook_endpoint,
)

log = structlog.get_logger(__name__)

MAX_EVENT_ID_LENGTH = 200
MAX_EVENT_TYPE_LENGTH = 100


class BodyTooLarge(Exception):
    pass


class BadContentLength(Exception):
    pass


def _error(status: int, error: str, **extra: str) -> JsonResponse:
    return JsonResponse({"error": error, **extra}, status=status)


def _read_capped_body(request: HttpRequest) -> bytes:
    """The body, refusing more than WEBHOOK_MAX_BODY_BYTES: first by the declared length (nothing
    is read), then by what the stream really yields (a server may hand over an unbounded one)."""
    limit: int = settings.WEBHOOK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise BadContentLength from None
        if length < 0:
            raise BadContentLength
        if length > limit:
            raise BodyTooLarge
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


@csrf_exempt
def webhook_receive(request: HttpRequest, provider: str) -> JsonResponse:
    endpoint = get_webhook_endpoint(provider)
    if endpoint is None:
        return _error(404, "unknown provider")
    if request.method != "POST":
        response = _error(405, "method not allowed")
        response["Allow"] = "POST"
        return response
    try:
        raw = _read_capped_body(request)
    except BodyTooLarge:
        log.warning("webhook.too_large", provider=provider)
        return _error(413, "body too large")
    except BadContentLength:
        return _error(400, "malformed", detail="Invalid Content-Length.")
    headers = dict(request.headers.items())
    try:
        endpoint.verify(headers=headers, body=raw)
    except SignatureRejected as exc:
        webhook_rejection_record(
            provider=provider,
            reason=str(exc) or "signature rejected",
            status_code=401,
            remote_addr=request.META.get("REMOTE_ADDR"),
            headers=scrub_headers(headers, endpoint.secret_headers),
            body=raw,
        )
        return _error(401, "invalid signature")
    try:
        return _store(endpoint, provider=provider, headers=headers, raw=raw)
    except MalformedWebhook as exc:
        log.info("webhook.malformed", provider=provider, reason=str(exc))
        return _error(400, "malformed", detail=str(exc))


def _store(
    endpoint: WebhookEndpoint, *, provider: str, headers: dict[str, str], raw: bytes
) -> JsonResponse:
    parsed = endpoint.parse(headers=headers, body=raw)
    if not parsed.event_id or len(parsed.event_id) > MAX_EVENT_ID_LENGTH:
        raise MalformedWebhook(f"Event id must be 1 to {MAX_EVENT_ID_LENGTH} characters.")
    if len(parsed.event_type) > MAX_EVENT_TYPE_LENGTH:
        raise MalformedWebhook(f"Event type is longer than {MAX_EVENT_TYPE_LENGTH} characters.")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedWebhook("Body is not UTF-8.") from None
    if "\x00" in body:
        raise MalformedWebhook("Body contains a NUL character.")
    result = webhook_event_store(
        provider=provider,
        parsed=parsed,
        headers=scrub_headers(headers, endpoint.secret_headers),
        body=body,
    )
    status = "stored" if result.created else "duplicate"
    log.info(
        "webhook.received",
        provider=provider,
        event_id=parsed.event_id,
        event_type=parsed.event_type,
        outcome=status,
        webhook_event=result.event_id,
    )
    return JsonResponse({"status": status, "id": result.event_id})
