"""A fake Twilio Messages API on 127.0.0.1 speaking CONTRACTS §7, and its signed callbacks.

``POST /2010-04-01/Accounts/<AccountSid>/Messages.json`` (form-encoded) creates a message;
``GET`` the same path lists them, newest first, filtered by ``To``/``From`` (``PageSize``).
Refusals, as the real API, in Twilio's JSON error shape ``{code, message, more_info, status}``:
no or wrong basic auth (``AccountSid:AuthToken``) or another account's path: 401 code 20003; a
missing ``To`` 21604, no ``From`` nor ``MessagingServiceSid`` 21603, an unknown sender 21606, an
unknown messaging service 21701, no ``Body`` 21602, a body over 1600 characters 21617, an
invalid ``To`` 21211, ``From`` and ``To`` on different channels 21910, ``ContentVariables``
without ``ContentSid`` 21654, a ``ContentSid`` that is not one of the account's Content
templates (``contents``) 21655, ``ContentVariables`` that are not a JSON object of non-empty
strings filling every placeholder 21656, a ``StatusCallback`` that
is not an http(s) URL 21609 (all 400), and 21610 for a number that sent STOP (``opted_out``;
an inbound STOP posted through ``post_inbound`` adds it, as Twilio's opt-out handling does).

Faults, per operation (``create``, ``list``), one per call: ``"500"`` (nothing created, 500),
``"timeout"`` (nothing created, answered too late), ``"500_after_send"`` and
``"timeout_after_send"`` (created, then a 500 or a late answer).

``post_status`` and ``post_inbound`` POST signed form bodies (``X-Twilio-Signature``, HMAC-SHA1
of the URL and the sorted parameters with the Auth Token) to our webhook URL, as Twilio does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support.loopback import serve_on_loopback

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2
FROM_NUMBER = "+15005550006"
MESSAGING_SERVICE_SID = "MG" + "89abcdef01234567" * 2
SLOW = 2.0
"""Longer than the tests' read timeout (1 s, tests/support/outbound.py)."""
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
OPT_OUT_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"}
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
PLACEHOLDER = re.compile(r"\{\{([0-9]+)\}\}")


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it (written independently of the SDK)."""
    signed = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    query: dict[str, list[str]]


@dataclass
class FakeTwilio:
    url: str = ""
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    numbers: set[str] = field(default_factory=lambda: {FROM_NUMBER})
    services: set[str] = field(default_factory=lambda: {MESSAGING_SERVICE_SID})
    opted_out: set[str] = field(default_factory=set)
    contents: dict[str, str] = field(default_factory=dict)
    """The account's Content templates: SID (HX...) -> text with {{1}}, {{2}}, ..."""
    seen: list[Seen] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, operation: str, *faults: str) -> None:
        self.faults[operation] = list(faults)

    def creates(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    def sent_to(self, to: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == to]

    # The API -----------------------------------------------------------------------------

    def _path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def create(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        to, from_, service, body = one("To"), one("From"), one("MessagingServiceSid"), one("Body")
        callback = one("StatusCallback")
        content_sid, variables = one("ContentSid"), form.get("ContentVariables")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if variables is not None and not content_sid:
            return _error(
                400,
                21654,
                "A ContentSid must be specified if ContentVariables are provided in the request.",
            )
        if content_sid:
            rendered = self._render_content(content_sid, variables)
            if isinstance(rendered, tuple):
                return rendered
            body = rendered
        elif not body and not form.get("MediaUrl"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        whatsapp = to.startswith("whatsapp:")
        if not E164.fullmatch(to.removeprefix("whatsapp:")):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if service:
            if service not in self.services:
                return _error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        else:
            if from_.startswith("whatsapp:") != whatsapp:
                return _error(
                    400,
                    21910,
                    "Invalid From and To pair. From and To should be of the same channel",
                )
            if from_.removeprefix("whatsapp:") not in self.numbers:
                return _error(
                    400,
                    21606,
                    f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                    "number or short code for your account.",
                )
        if callback and not re.fullmatch(r"https?://[^\s]+", callback):
            return _error(400, 21609, "Invalid StatusCallback")
        if to in self.opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        number = next(self.counter)
        now = datetime.now(UTC)
        sid = f"SM{number:08x}{secrets.token_hex(12)}"
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": format_datetime(now, usegmt=True),
            "date_sent": None,
            "date_updated": format_datetime(now, usegmt=True),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": (f"whatsapp:{FROM_NUMBER}" if whatsapp else FROM_NUMBER) if service else from_,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{self._path()[:-5]}/{sid}/Media.json"},
            "to": to,
            "uri": f"{self._path()[:-5]}/{sid}.json",
            "status_callback": callback,
        }
        self.messages.append(message)
        return 201, {k: v for k, v in message.items() if k != "status_callback"}

    def _render_content(
        self, content_sid: str, variables: list[str] | None
    ) -> str | tuple[int, dict[str, Any]]:
        """The text of Content template ``content_sid`` with ``ContentVariables`` filled in,
        or Twilio's refusal: 21655 for a SID that is not ``HX`` + 32 hex digits or not one of
        the account's templates; 21656 for ContentVariables that are not one JSON object of
        string values, that hold an empty value, or that leave a placeholder unfilled."""
        template = self.contents.get(content_sid)
        if not CONTENT_SID.fullmatch(content_sid) or template is None:
            return _error(400, 21655, "The ContentSid is Invalid")
        invalid = _error(400, 21656, "The Content Variables parameter is invalid.")
        values: dict[str, Any] = {}
        if variables is not None:
            if len(variables) != 1:
                return invalid
            try:
                values = json.loads(variables[0])
            except ValueError:
                return invalid
            if not isinstance(values, dict) or not all(
                isinstance(v, str) and v.strip() for v in values.values()
            ):
                return invalid
        wanted = set(PLACEHOLDER.findall(template))
        if not wanted <= set(values):
            return invalid
        return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)

    def list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        to = (query.get("To") or [""])[0]
        from_ = (query.get("From") or [""])[0]
        try:
            size = max(1, min(1000, int((query.get("PageSize") or ["50"])[0])))
        except ValueError:
            return _error(400, 20001, "Invalid PageSize")
        found = [
            {k: v for k, v in m.items() if k != "status_callback"}
            for m in reversed(self.messages)
            if (not to or m["to"] == to) and (not from_ or m["from"] == from_)
        ][:size]
        uri = f"{self._path()}?PageSize={size}&Page=0"
        return 200, {
            "messages": found,
            "end": max(0, len(found) - 1),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }

    # Callbacks -----------------------------------------------------------------------------

    def post_signed(
        self, url: str, params: Mapping[str, str], *, signature: str | None = None
    ) -> requests.Response:
        """POST ``params`` form-encoded to ``url``, signed as Twilio signs it."""
        session = requests.Session()
        session.trust_env = False
        return session.post(
            url,
            data=dict(params),
            headers={
                "X-Twilio-Signature": signature
                if signature is not None
                else twilio_signature(self.auth_token, url, params),
            },
            timeout=10,
        )

    def status_params(
        self, sid: str, status: str, *, error_code: str | None = None
    ) -> dict[str, str]:
        message = next((m for m in self.messages if m["sid"] == sid), None)
        to = message["to"] if message else "+5511999999999"
        from_ = message["from"] if message else FROM_NUMBER
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": from_,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": to,
        }
        if error_code:
            params["ErrorCode"] = error_code
        if message is not None:
            message["status"] = status
        return params

    def inbound_params(self, from_: str, body: str, *, to: str = FROM_NUMBER) -> dict[str, str]:
        """A customer's message to our number; an opt-out word puts ``from_`` on the list."""
        sid = f"SM{next(self.counter):08x}{secrets.token_hex(12)}"
        if body.strip().casefold() in OPT_OUT_WORDS:
            self.opted_out.add(from_)
        whatsapp = from_.startswith("whatsapp:")
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": from_,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": f"whatsapp:{to}" if whatsapp else to,
        }


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            form = (
                parse_qs(raw.decode(), keep_blank_values=True)
                if headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
                else {}
            )
            query = parse_qs(split.query, keep_blank_values=True)
            with fake.lock:
                fake.seen.append(Seen(self.command, split.path, headers, form, query))
                status, answer, fault = self._decide(split.path, headers, form, query)
            if fault.startswith("timeout"):
                time.sleep(SLOW)
            self._write(status, answer)

        def _decide(
            self,
            path: str,
            headers: dict[str, str],
            form: dict[str, list[str]],
            query: dict[str, list[str]],
        ) -> tuple[int, Any, str]:
            expected = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
            if headers.get("authorization") != f"Basic {expected}":
                return *_error(401, 20003, "Authenticate"), ""
            if path != fake._path():
                if path.startswith("/2010-04-01/Accounts/") and path.endswith("/Messages.json"):
                    return *_error(401, 20003, "Authenticate"), ""
                return *_error(404, 20404, "The requested resource was not found"), ""
            operation = {"POST": "create", "GET": "list"}.get(self.command)
            if operation is None:
                return *_error(405, 20004, "Method not allowed"), ""
            faults = fake.faults.get(operation, [])
            fault = faults.pop(0) if faults else ""
            if fault in ("500", "timeout"):
                return (
                    500,
                    {"code": 20500, "message": "Internal Server Error", "status": 500},
                    fault,
                )
            if operation == "list":
                return *fake.list(query), fault
            status, answer = fake.create(form)
            if fault == "500_after_send":
                return (
                    500,
                    {"code": 20500, "message": "Internal Server Error", "status": 500},
                    fault,
                )
            return status, answer, fault

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
def serve_fake_twilio() -> Iterator[FakeTwilio]:
    """A FakeTwilio on 127.0.0.1; its ``url`` is the API base (``TWILIO_API_BASE``)."""
    fake = FakeTwilio()
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = base
        yield fake
