"""``POST /webhooks/<provider>/``: verify the raw body, store once, answer fast.

``POST /webhooks/<provider>/<token>/`` serves endpoints that authenticate by a secret URL segment
(``UrlTokenEndpoint.verify_url_token``, checked with the signature); any other endpoint answers
404 there.

Status codes: 200 stored or already stored (``{"status": "stored" | "duplicate", "id": N}``, N the
inbox row; on the embedded profile's receiver ``"receipt": N`` instead, N the WebhookArrival the
drain moves into the inbox right after); 400 malformed (or a body the server could not read);
401 bad or stale signature (counted; a bounded sample is kept as WebhookRejection rows, see
``inbox.webhook_rejection_record``); 404 unknown provider;
405 not POST; 411 a chunked body the server cannot frame; 413 body too big.

A body may come with a Content-Length or in chunks (``Transfer-Encoding: chunked``, no length):
the same 1 MiB cap applies to both, counted on the bytes read.
"""

from __future__ import annotations

from typing import IO, cast

import structlog
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.webhooks.inbox import (
    scrub_headers,
    webhook_event_store,
    webhook_rejection_record,
    webhook_sqlite_checkpoint_run,
)
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


class LengthRequired(Exception):
    """A chunked body under a WSGI server that does not mark its input as terminated: without a
    length there is no safe way to know where the body ends."""


class UnreadableBody(Exception):
    """The server could not hand over the body (client gone, bad chunk framing, read timeout)."""


class _Acknowledgement(JsonResponse):
    """The inbox's answer to a stored delivery. A SQLite checkpoint that fell due while storing
    (``inbox.webhook_sqlite_checkpoint_run``) runs in ``close()``, which the WSGI server calls once
    it has sent the response (Django's ASGI handler and test client call it too): the sender has
    its 200 without waiting for the checkpoint's fsyncs."""

    def close(self) -> None:
        try:
            webhook_sqlite_checkpoint_run()
        finally:
            super().close()


def _error(status: int, error: str, **extra: str) -> JsonResponse:
    return JsonResponse({"error": error, **extra}, status=status)


def _body_stream(request: HttpRequest) -> IO[bytes] | HttpRequest:
    """Where to read the body from. Django's WSGI request reads at most Content-Length bytes, so
    a chunked body (no length) reads as empty there; a WSGI server that de-chunks the body and
    ends the stream with it says so with ``wsgi.input_terminated`` (gunicorn does), and then its
    ``wsgi.input`` is read directly. An ASGI request already holds the whole body."""
    if not isinstance(request, WSGIRequest) or request.META.get("CONTENT_LENGTH"):
        return request
    if request.environ.get("wsgi.input_terminated"):
        return cast("IO[bytes]", request.environ["wsgi.input"])
    if request.META.get("HTTP_TRANSFER_ENCODING"):
        raise LengthRequired
    return request


def _read_capped_body(request: HttpRequest) -> bytes:
    """The body, refusing more than WEBHOOK_MAX_BODY_BYTES: first by the declared length (nothing
    is read), then by what the stream really yields (a chunked body has no declared length, and
    a server may hand over an unbounded stream)."""
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
    stream = _body_stream(request)
    try:
        body = stream.read(limit + 1)
    except Exception as exc:  # boundary: the server's body reader (gunicorn raises its own errors)
        raise UnreadableBody(type(exc).__name__) from exc
    if len(body) > limit:
        raise BodyTooLarge
    return body


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address TRUSTED_PROXY_COUNT hops from the right of X-Forwarded-For
    behind that many proxies (as accounts.access.audit.client_ip, which integrations cannot import);
    the inbox validates it."""
    trusted: int = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR")


@csrf_exempt
def webhook_receive(
    request: HttpRequest, provider: str, url_token: str | None = None
) -> JsonResponse:
    endpoint = get_webhook_endpoint(provider)
    if endpoint is None:
        return _error(404, "unknown provider")
    verify_url_token = getattr(endpoint, "verify_url_token", None)
    if url_token is not None and verify_url_token is None:
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
    except LengthRequired:
        return _error(411, "length required")
    except UnreadableBody as exc:
        log.info("webhook.unreadable_body", provider=provider, error=str(exc))
        return _error(400, "malformed", detail="The body could not be read.")
    headers = dict(request.headers.items())
    try:
        if verify_url_token is not None:
            verify_url_token(url_token or "")
        verify_request = getattr(endpoint, "verify_request", None)
        if verify_request is not None:
            # A scheme that signs the request line too (HubSpot v3): the full URI as called.
            verify_request(
                method=request.method or "POST",
                uri=request.build_absolute_uri(),
                headers=headers,
                body=raw,
            )
        else:
            endpoint.verify(headers=headers, body=raw)
    except SignatureRejected as exc:
        webhook_rejection_record(
            provider=provider,
            reason=str(exc) or "signature rejected",
            status_code=401,
            remote_addr=client_ip(request),
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
        receipt=result.receipt,
    )
    if result.event_id is None:
        return _Acknowledgement({"status": status, "receipt": result.receipt})
    return _Acknowledgement({"status": status, "id": result.event_id})
