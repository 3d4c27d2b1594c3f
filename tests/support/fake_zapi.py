"""A fake Z-API on 127.0.0.1 speaking CONTRACTS §7, and its status callbacks.

Every call is ``/instances/<INSTANCE_ID>/token/<INSTANCE_TOKEN>/<method>`` with a ``Client-Token``
header. Refusals, as the real API: a missing ``Client-Token`` is 400 ``{"error": "null not
allowed"}`` (the body Z-API documents; the status is not documented), a wrong one 400 too; an
unknown instance or a wrong instance token 400 ``{"error": "Instance not found"}`` (status and
text UNCONFIRMED); a body that is not ``Content-Type: application/json`` 415; a wrong method 405;
a ``phone`` that is not digits only (country code, area code, number), a missing ``message``,
``image`` or ``document``, or ``send-document`` without its ``/<extension>``: 400. Accepted sends
answer ``{"zaapId", "messageId", "id"}`` (``id`` = ``messageId``) and are kept in ``sent``;
``GET chat-messages/<phone>?amount=N`` answers that chat's latest N messages, oldest first.

Faults per method name (``send-text``, ``send-image``, ``send-document``, ``chat-messages``),
taken one per call: ``"500"`` (send nothing, answer 500), ``"timeout"`` (send nothing, answer
too late), ``"timeout_after_send"`` (send, then answer too late), ``"500_after_send"`` (send, then
answer 500).

``status_callback`` builds a ``MessageStatusCallback`` body; ``post_callback`` posts one to our
callback URL with the ``Client-Token`` header, as Z-API does.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.utils import timezone

from tests.support.loopback import serve_on_loopback

INSTANCE_ID = "3EA00D045BBA411272EA262C2401B26D"
INSTANCE_TOKEN = "53C7BCFE425BACB7D273D037"
CLIENT_TOKEN = "F70463fbad6d84b71b412f45221ea1ebfS"
WEBHOOK_TOKEN = "zapi-callback-secret-0123456789abcdefXYZ"
SLOW = 2.0
"""Longer than the tests' read timeout (1 s, tests/support/outbound.py)."""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes


def now_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


@dataclass
class FakeZapi:
    url: str = ""
    instance_id: str = INSTANCE_ID
    instance_token: str = INSTANCE_TOKEN
    client_token: str = CLIENT_TOKEN
    seen: list[Seen] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, method: str, *faults: str) -> None:
        self.faults[method] = list(faults)

    def calls_to(self, method: str) -> list[Seen]:
        return [s for s in self.seen if s.path.split("/")[5:6] == [method]]

    def sent_to(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["phone"] == phone]

    # The API -----------------------------------------------------------------------------

    def _record(self, phone: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        number = next(self.counter)
        message = {
            "messageId": f"3EB0{number:016X}",
            "zaapId": f"{number:08d}{secrets.token_hex(12).upper()}",
            "phone": phone,
            "fromMe": True,
            "momment": now_ms(),
            "status": "SENT",
            "instanceId": self.instance_id,
            kind: content,
        }
        self.sent.append(message)
        return message

    def handle(
        self, method: str, name: str, rest: list[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, Any] | None]:
        """(status, answer, message to record when the send is accepted)."""
        if name == "chat-messages":
            if method != "GET":
                return 405, {"error": "Method Not Allowed"}, None
            phone = rest[0] if rest else ""
            try:
                amount = int(query.get("amount", ["10"])[0])
            except ValueError:
                amount = 10
            chat = self.sent_to(phone)[-max(1, amount) :]
            return 200, chat, None
        if name not in ("send-text", "send-image", "send-document"):
            return 404, {"error": "NOT_FOUND"}, None
        if method != "POST":
            return 405, {"error": "Method Not Allowed"}, None
        if not isinstance(body, dict):
            return 400, {"error": "Invalid body"}, None
        given = body.get("phone")
        if not isinstance(given, str) or not given.isascii() or not given.isdigit():
            return 400, {"error": "phone must contain only numbers"}, None
        phone = given
        caption = {"caption": body["caption"]} if isinstance(body.get("caption"), str) else {}
        if name == "send-text":
            if not isinstance(body.get("message"), str) or not body["message"]:
                return 400, {"error": "message is required"}, None
            return 200, None, {"phone": phone, "kind": "text", "text": {"message": body["message"]}}
        if name == "send-image":
            if not isinstance(body.get("image"), str) or not body["image"]:
                return 400, {"error": "image is required"}, None
            content = {"imageUrl": body["image"], "mimeType": "image/png", **caption}
            return 200, None, {"phone": phone, "kind": "image", "image": content}
        if not rest or not rest[0]:
            return 404, {"error": "NOT_FOUND"}, None
        if not isinstance(body.get("document"), str) or not body["document"]:
            return 400, {"error": "document is required"}, None
        content = {
            "documentUrl": body["document"],
            "fileName": str(body.get("fileName", "")),
            "mimeType": f"application/{rest[0]}",
            **caption,
        }
        return 200, None, {"phone": phone, "kind": "document", "document": content}

    # Callbacks -----------------------------------------------------------------------------

    def status_callback(
        self, message_id: str | list[str], status: str, *, momment: int | None = None
    ) -> dict[str, Any]:
        ids = [message_id] if isinstance(message_id, str) else list(message_id)
        phone = next((m["phone"] for m in self.sent if m["messageId"] == ids[0]), "5511999999999")
        return {
            "instanceId": self.instance_id,
            "status": status,
            "ids": ids,
            "momment": momment if momment is not None else now_ms(),
            "phoneDevice": 0,
            "phone": phone,
            "type": "MessageStatusCallback",
            "isGroup": False,
        }

    def post_callback(
        self, url: str, body: dict[str, Any], *, client_token: str | None = None
    ) -> requests.Response:
        """POST ``body`` to ``url`` (our configured callback URL) as Z-API does."""
        session = requests.Session()
        session.trust_env = False
        return session.post(
            url,
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Client-Token": self.client_token if client_token is None else client_token,
            },
            timeout=10,
        )


def _handler_for(fake: FakeZapi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            parts = split.path.split("/")  # "", instances, <id>, token, <token>, <name>, ...
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.seen.append(Seen(self.command, split.path, headers, raw))
                status, answer, record, fault = self._decide(parts, split.query, headers, raw)
                message = None
                if record is not None and fault in ("", "timeout_after_send", "500_after_send"):
                    kind = record.pop("kind")
                    message = fake._record(record["phone"], kind, record[kind])
                    answer = {
                        "zaapId": message["zaapId"],
                        "messageId": message["messageId"],
                        "id": message["messageId"],
                    }
                if fault in ("500", "500_after_send"):
                    status, answer = 500, {"error": "Internal Server Error"}
            if fault.startswith("timeout"):
                time.sleep(SLOW)
            self._write(status, answer)

        def _decide(
            self, parts: list[str], query: str, headers: dict[str, str], raw: bytes
        ) -> tuple[int, Any, dict[str, Any] | None, str]:
            if len(parts) < 6 or parts[1] != "instances" or parts[3] != "token":
                return 404, {"error": "NOT_FOUND"}, None, ""
            if parts[2] != fake.instance_id or parts[4] != fake.instance_token:
                return 400, {"error": "Instance not found"}, None, ""
            given = headers.get("client-token")
            if not given:
                return 400, {"error": "null not allowed"}, None, ""
            if given != fake.client_token:
                return 400, {"error": "Client-Token not allowed"}, None, ""
            name, rest = parts[5], parts[6:]
            if self.command == "POST" and not headers.get("content-type", "").startswith(
                "application/json"
            ):
                return 415, {"error": "Unsupported Media Type"}, None, ""
            faults = fake.faults.get(name, [])
            fault = faults.pop(0) if faults else ""
            if fault in ("500", "timeout"):
                return 500, {"error": "Internal Server Error"}, None, fault
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return 400, {"error": "Invalid JSON"}, None, fault
            status, answer, record = fake.handle(self.command, name, rest, parse_qs(query), body)
            return status, answer, record, fault

        def _write(self, status: int, answer: Any) -> None:
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_zapi() -> Iterator[FakeZapi]:
    """A FakeZapi on 127.0.0.1; its ``url`` is the API base (``ZAPI_API_BASE``)."""
    fake = FakeZapi()
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = base
        yield fake
