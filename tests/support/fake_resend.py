"""A fake Resend API on loopback, speaking CONTRACTS §5: ``POST /emails`` with
``Authorization: Bearer re_...`` and an optional ``Idempotency-Key``.

It refuses as Resend does: no key 401 ``missing_api_key``, a wrong key 403 ``invalid_api_key``,
a body without ``from``, ``to`` or ``subject`` 422 ``missing_required_field``; an
Idempotency-Key seen before answers the first id again and sends nothing (the same key with
another body is 409 ``invalid_idempotent_request``). ``fail`` queues faults for the next
requests: ``"500"``, ``"timeout"`` (no answer in time, nothing sent) or ``"timeout_after_send"``
(sent, then the answer is too late). It also signs tracking webhooks with Svix (``signed``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import serve_on_loopback

API_KEY = "re_test_4f1d2c3b5a697887"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"resend-test-signing-secret-32b!").decode()
SLOW = 1.5


@dataclass
class FakeResend:
    url: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, *faults: str) -> None:
        self.faults.extend(faults)

    def handle(self, headers: dict[str, str], raw: bytes, fault: str) -> tuple[int, dict[str, Any]]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return 401, _error(
                401, "missing_api_key", "Missing API key in the authorization header."
            )
        if auth.removeprefix("Bearer ") != API_KEY:
            return 403, _error(403, "invalid_api_key", "API key is invalid.")
        if fault == "500":
            return 500, _error(500, "application_error", "Something went wrong.")
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _error(400, "validation_error", "Invalid JSON.")
        if not isinstance(body, dict):
            return 422, _error(422, "validation_error", "The body must be an object.")
        for required in ("from", "to", "subject"):
            if not body.get(required):
                return 422, _error(422, "missing_required_field", f"Missing `{required}` field.")
        key = headers.get("idempotency-key", "")
        digest = hashlib.sha256(raw).hexdigest()
        if key and key in self.keys:
            first_id, first_digest = self.keys[key]
            if first_digest != digest:
                return 409, _error(
                    409,
                    "invalid_idempotent_request",
                    "Same idempotency key used with a different request payload.",
                )
            return 200, {"id": first_id}
        email_id = str(uuid.uuid4())
        self.sent.append({"id": email_id, **body})
        if key:
            self.keys[key] = (email_id, digest)
        return 200, {"id": email_id}


def _error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "name": name, "message": message}


def _handler_for(fake: FakeResend) -> type:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append({"path": self.path, "headers": headers, "body": raw})
                fault = fake.faults.pop(0) if fake.faults else ""
                if self.path != "/emails":
                    status, answer = 404, _error(404, "not_found", "Not found.")
                elif fault == "timeout":
                    status, answer = 500, {}
                else:
                    status, answer = fake.handle(headers, raw, fault)
            if fault.startswith("timeout"):
                time.sleep(SLOW)
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_resend() -> Iterator[FakeResend]:
    fake = FakeResend()
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = f"{base}/"
        yield fake


def signed(
    event: dict[str, Any],
    *,
    secret: str = SIGNING_SECRET,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and Svix headers Resend would send for ``event`` (CONTRACTS §5)."""
    body = json.dumps(event).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex[:24]}"
    ts = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return body, {
        "svix-id": msg_id,
        "svix-timestamp": ts,
        "svix-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def tracking_event(kind: str, email_id: str, to: str, **data: Any) -> dict[str, Any]:
    """A Resend ``email.*`` event in the documented envelope."""
    return {
        "type": f"email.{kind}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "data": {
            "email_id": email_id,
            "created_at": "2026-12-01T10:00:00.000000+00:00",
            "from": "Loja <loja@example.test>",
            "to": [to],
            "subject": "Payment received",
            **data,
        },
    }
