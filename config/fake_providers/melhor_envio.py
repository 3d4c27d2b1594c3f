"""A fake Melhor Envio API on 127.0.0.1 speaking CONTRACTS §3, and webhook helpers.

It keeps orders in memory and moves them like the real one: ``POST /me/cart`` makes a
``pending`` order (422 without a service, both or neither of products/volumes in a quote,
missing addresses or volumes); ``checkout`` pays it (``released``; 422 when it is not pending),
``generate`` gives it its Melhor Envio code (``generated``, ``self_tracking``; 422 unless paid),
``print`` answers a label URL (422 unless generated), ``cancel`` cancels an order not yet posted
(422 otherwise), ``tracking`` answers each order's status and times, ``orders/search`` finds
orders by id, tag or tracking code. Every call needs ``Authorization: Bearer <valid token>``:
401 for a missing, unknown or expired one. ``POST /oauth/token`` trades a refresh token (grant
``refresh_token``, with the client id and secret) for a new pair; each access token expires
after ``token_lifetime`` seconds. ``labels_bought`` counts checkouts that paid.

Faults per ``(method, path)`` (path without ``/api/v2``): ``"500"`` or ``"503"`` (apply nothing,
answer that status, as during an outage),
``"timeout"`` (apply nothing, answer too late), ``"timeout_after_apply"`` (apply, then answer too
late), ``"401"`` (answer 401 once, as with a token revoked early).

Webhooks: like the real one, which POSTs ``order.*`` events for the labels an app generated to
the URL the app registered, the fake sends ``{"event": "order.posted", "data": {...order...}}``
signed with ``X-ME-Signature`` (base64 HMAC-SHA256 of the raw body with the client secret) to
``webhook_url``. ``courier()`` plays the carrier: in a thread it posts each generated label's
parcel after ``posted_after`` seconds and delivers it ``delivered_after`` seconds later, sending
each step's webhook (retried a few times until answered 200).

The demo runs it too (``run_demo`` with ``DEMO_CARRIER=melhor_envio``), so it lives with the
project rather than in ``tests/`` (see ``config/fake_providers/__init__.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from django.utils import timezone

from config.fake_providers.loopback import serve_on_loopback

CLIENT_ID = "4321"
# Test-only values (the demo makes its own per run); never a real app's.
CLIENT_SECRET = "me-test-client-secret-0123456789abcdef"  # noqa: S105
FIRST_REFRESH_TOKEN = "def50200-first-refresh-token-0123456789"  # noqa: S105
SLOW = 3.0
ME_TZ = ZoneInfo("America/Sao_Paulo")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes


def me_time(when: datetime) -> str:
    return when.astimezone(ME_TZ).strftime("%Y-%m-%d %H:%M:%S")


WEBHOOK_ATTEMPTS = 5
WEBHOOK_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class WebhookSent:
    event: str
    order_id: str
    status: int  # our answer's HTTP status; 0 when there was none


@dataclass
class FakeMelhorEnvio:
    url: str = ""
    token_lifetime: int = 2_592_000
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    webhook_url: str = ""
    webhooks_sent: list[WebhookSent] = field(default_factory=list)
    # When each order last changed status (monotonic seconds), for the courier.
    changed_at: dict[str, float] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, datetime] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=lambda: {FIRST_REFRESH_TOKEN})
    faults: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    labels_bought: int = 0
    quote_delay: float = 0.0
    """Seconds ``POST /me/shipment/calculate`` takes to answer (a slow carrier)."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    codes: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, method: str, path: str, *faults: str) -> None:
        self.faults[(method, path)] = list(faults)

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def issue_token(self) -> tuple[str, str]:
        access = f"eyJ0.{secrets.token_urlsafe(24)}"
        refresh = f"def50200{secrets.token_hex(16)}"
        self.access_tokens[access] = timezone.now() + timedelta(seconds=self.token_lifetime)
        self.refresh_tokens.add(refresh)
        return access, refresh

    def expire_all_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens:
                self.access_tokens[token] = timezone.now() - timedelta(seconds=1)

    def move(self, order_id: str, status: str, when: datetime | None = None) -> dict[str, Any]:
        """The carrier moves the parcel (posted, delivered, ...); answers the order."""
        with self.lock:
            order = self.orders[order_id]
            order["status"] = status
            field_name = {"posted": "posted_at", "delivered": "delivered_at"}.get(status)
            if field_name:
                order[field_name] = me_time(when or timezone.now())
            if status == "posted" and not order.get("tracking"):
                order["tracking"] = f"AB{next(self.codes):09d}BR"
            order["updated_at"] = me_time(when or timezone.now())
            self.changed_at[order_id] = time.monotonic()
            return dict(order)

    # Webhooks and the courier ------------------------------------------------------------

    def webhook_body(self, order_id: str, event: str) -> bytes:
        with self.lock:
            order = dict(self.orders[order_id])
        code = order.get("tracking") or order.get("self_tracking") or ""
        order["tracking_url"] = f"https://melhorrastreio.com.br/rastreio/{code}"
        return json.dumps({"event": event, "data": order}, separators=(",", ":")).encode()

    def send_webhook(self, order_id: str, event: str) -> int:
        """POST ``event`` about the order to ``webhook_url``, signed; retried until answered
        200 (at most ``WEBHOOK_ATTEMPTS`` times). Answers the last HTTP status (0: none)."""
        body = self.webhook_body(order_id, event)
        request = urllib.request.Request(  # noqa: S310 - the app's own loopback URL
            self.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Fake Melhor Envio",
                "X-ME-Signature": sign(body, secret=self.client_secret),
            },
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        status = 0
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                time.sleep(WEBHOOK_RETRY_SECONDS)
            try:
                with opener.open(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            if status == 200:
                break
        with self.lock:
            self.webhooks_sent.append(WebhookSent(event, order_id, status))
        return status

    def advance(self, *, posted_after: float, delivered_after: float) -> int:
        """One round of the courier: each order generated ``posted_after`` seconds ago is
        posted, each posted ``delivered_after`` seconds ago delivered; each step's webhook is
        sent. Answers how many orders moved."""
        now = time.monotonic()
        due: list[tuple[str, str]] = []
        with self.lock:
            for order_id, order in self.orders.items():
                since = now - self.changed_at.get(order_id, now)
                if order["status"] == "generated" and since >= posted_after:
                    due.append((order_id, "posted"))
                elif order["status"] == "posted" and since >= delivered_after:
                    due.append((order_id, "delivered"))
            for order_id, status in due:
                self.move(order_id, status)
        for order_id, status in due:
            if self.webhook_url:
                self.send_webhook(order_id, f"order.{status}")
        return len(due)

    @contextmanager
    def courier(self, *, posted_after: float, delivered_after: float) -> Iterator[None]:
        """Run ``advance`` every 0.2 s in a thread for the length of the block."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(0.2):
                self.advance(posted_after=posted_after, delivered_after=delivered_after)

        thread = threading.Thread(target=run, name="fake-melhor-envio-courier", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=WEBHOOK_ATTEMPTS * (WEBHOOK_RETRY_SECONDS + 10))

    # The API -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if path == "/me/shipment/calculate" and method == "POST":
            return self.calculate(body)
        if path == "/me/cart" and method == "POST":
            return self.cart(body)
        if path == "/me/orders/search" and method == "GET":
            term = query.get("q", [""])[0]
            found = [
                o
                for o in self.orders.values()
                if term
                and (
                    term in (o["id"], o["protocol"], o.get("tracking"), o.get("self_tracking"))
                    or term in [t["tag"] for t in o["tags"]]
                )
            ]
            return 200, found
        if path.startswith("/me/orders/") and method == "GET":
            order = self.orders.get(path.rsplit("/", 1)[1])
            return (
                (200, order) if order else (404, {"message": "No query results for model [Order]."})
            )
        if (
            path
            in (
                "/me/shipment/checkout",
                "/me/shipment/generate",
                "/me/shipment/print",
                "/me/shipment/tracking",
            )
            and method == "POST"
        ):
            ids = body.get("orders") if isinstance(body, dict) else None
            if not isinstance(ids, list) or not ids or any(i not in self.orders for i in ids):
                return 422, {
                    "message": "The given data was invalid.",
                    "errors": {"orders": ["Pedido inválido."]},
                }
            orders = [self.orders[i] for i in ids]
            if path.endswith("checkout"):
                if any(o["status"] != "pending" for o in orders):
                    return 422, {"error": "Pedido já pago ou cancelado."}
                for o in orders:
                    o["status"] = "released"
                    o["paid_at"] = me_time(timezone.now())
                    self.labels_bought += 1
                return 200, {
                    "purchase": {
                        "id": str(uuid.uuid4()),
                        "orders": orders,
                        "total": sum(o["price"] for o in orders),
                    }
                }
            if path.endswith("generate"):
                if any(o["status"] not in ("released", "paid") for o in orders):
                    return 422, {"error": "Etiqueta não pode ser gerada."}
                for o in orders:
                    o["status"] = "generated"
                    o["generated_at"] = me_time(timezone.now())
                    o["self_tracking"] = f"ME{next(self.codes):08d}BR"
                    self.changed_at[o["id"]] = time.monotonic()
                return 200, {
                    o["id"]: {"status": True, "message": "Envio gerado com sucesso"} for o in orders
                }
            if path.endswith("print"):
                if any(o["status"] not in ("generated", "posted") for o in orders):
                    return 422, {"error": "Etiqueta não gerada."}
                return 200, {
                    "url": f"https://sandbox.melhorenvio.com.br/imprimir/{orders[0]['id'][:8]}"
                }
            return 200, {
                o["id"]: {
                    k: o.get(k)
                    for k in (
                        "id",
                        "protocol",
                        "status",
                        "tracking",
                        "melhorenvio_tracking",
                        "self_tracking",
                        "created_at",
                        "paid_at",
                        "generated_at",
                        "posted_at",
                        "delivered_at",
                        "canceled_at",
                        "expired_at",
                    )
                }
                for o in orders
            }
        if path == "/me/shipment/cancel" and method == "POST":
            order_ref = body.get("order") if isinstance(body, dict) else None
            if (
                not isinstance(order_ref, dict)
                or order_ref.get("id") not in self.orders
                or not order_ref.get("reason_id")
            ):
                return 422, {"message": "The given data was invalid."}
            order = self.orders[order_ref["id"]]
            if order["status"] not in ("pending", "released", "paid", "generated"):
                return 422, {"error": "Esta etiqueta não pode ser cancelada."}
            order["status"] = "canceled"
            order["canceled_at"] = me_time(timezone.now())
            return 200, {order["id"]: {"canceled": True}}
        return 404, {"message": f"No route {method} {path}"}

    def calculate(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 422, {"message": "The given data was invalid."}
        errors: dict[str, list[str]] = {}
        for end in ("from", "to"):
            code = str((body.get(end) or {}).get("postal_code", ""))
            if len(code) != 8 or not code.isdigit():
                errors[f"{end}.postal_code"] = ["CEP inválido."]
        has_products, has_volumes = "products" in body, "volumes" in body
        if has_products == has_volumes:
            errors["products"] = ["Envie produtos ou volumes."]
        for volume in body.get("volumes") or []:
            for key in ("height", "width", "length", "weight"):
                try:
                    if float(volume.get(key)) <= 0:
                        raise ValueError
                except (TypeError, ValueError):
                    errors[f"volumes.{key}"] = ["Valor inválido."]
        if errors:
            return 422, {"message": "The given data was invalid.", "errors": errors}
        parcels: list[dict[str, Any]] = body.get("volumes") or body.get("products") or []
        weight = sum(float(v["weight"]) for v in parcels)
        insurance = sum(
            float(v.get("insurance", 0) or v.get("insurance_value", 0)) for v in parcels
        )
        services: list[dict[str, Any]] = [
            {
                "id": 1,
                "name": "PAC",
                "price": f"{18.5 + 4 * weight + insurance * 0.01:.2f}",
                "delivery_time": 8,
            },
            {
                "id": 2,
                "name": "SEDEX",
                "price": f"{32.9 + 6 * weight + insurance * 0.01:.2f}",
                "delivery_time": 2,
            },
            {"id": 17, "name": "Mini Envios", "error": "Dimensões do objeto excedem o limite."},
        ]
        wanted = str(body.get("services") or "")
        chosen = [s for s in services if not wanted or str(s["id"]) in wanted.split(",")]
        return 200, [
            {
                **s,
                "custom_price": s.get("price"),
                "discount": "0.00",
                "currency": "R$",
                "delivery_range": {
                    "min": s.get("delivery_time", 0),
                    "max": int(s.get("delivery_time", 0)) + 1,
                },
                "packages": [],
                "company": {"id": 1, "name": "Correios", "picture": ""},
            }
            for s in chosen
        ]

    def cart(self, body: Any) -> tuple[int, Any]:
        errors: dict[str, list[str]] = {}
        if not isinstance(body, dict) or not isinstance(body.get("service"), int):
            return 422, {
                "message": "The given data was invalid.",
                "errors": {"service": ["O serviço é obrigatório."]},
            }
        for end in ("from", "to"):
            address = body.get(end) or {}
            code = str(address.get("postal_code", ""))
            if len(code) != 8 or not code.isdigit():
                errors[f"{end}.postal_code"] = ["CEP inválido."]
            for required in ("name", "address", "city", "state_abbr"):
                if not address.get(required):
                    errors[f"{end}.{required}"] = ["O campo é obrigatório."]
        if not body.get("volumes"):
            errors["volumes"] = ["Volumes obrigatórios."]
        if errors:
            return 422, {"message": "The given data was invalid.", "errors": errors}
        order_id = str(uuid.uuid4())
        order = {
            "id": order_id,
            "protocol": f"ORD-2026{next(self.codes):08d}",
            "service_id": body["service"],
            "status": "pending",
            "price": 23.5,
            "tracking": None,
            "self_tracking": None,
            "tags": [
                t for t in (body.get("options") or {}).get("tags") or [] if isinstance(t, dict)
            ],
            "created_at": me_time(timezone.now()),
            "updated_at": me_time(timezone.now()),
        }
        self.orders[order_id] = order
        return 201, order

    def oauth(self, form: dict[str, list[str]]) -> tuple[int, Any]:
        def one(key: str) -> str:
            return form.get(key, [""])[0]

        if one("client_id") != self.client_id or one("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        if one("grant_type") != "refresh_token" or one("refresh_token") not in self.refresh_tokens:
            return 400, {"error": "invalid_grant", "message": "The refresh token is invalid."}
        self.refresh_tokens.discard(one("refresh_token"))  # refresh tokens are single use
        access, refresh = self.issue_token()
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "access_token": access,
            "refresh_token": refresh,
        }


def _handler_for(fake: FakeMelhorEnvio) -> type:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            path = split.path.removeprefix("/api/v2")
            seen = Seen(
                self.command,
                path,
                parse_qs(split.query),
                {k.lower(): v for k, v in self.headers.items()},
                raw,
            )
            with fake.lock:
                fake.seen.append(seen)
                faults = fake.faults.get((self.command, path), [])
                fault = faults.pop(0) if faults else ""
                if path == "/oauth/token":
                    status, answer = fake.oauth(parse_qs(raw.decode()))
                else:
                    bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    expiry = fake.access_tokens.get(bearer)
                    if fault == "401" or expiry is None or expiry <= timezone.now():
                        status, answer = 401, {"message": "Unauthenticated."}
                    elif fault in ("500", "timeout"):
                        status, answer = 500, {"message": "Server Error"}
                    elif fault == "503":
                        status, answer = 503, {"message": "Service Unavailable"}
                    else:
                        try:
                            body = json.loads(raw) if raw else None
                        except ValueError:
                            status, answer = 422, {"message": "The given data was invalid."}
                        else:
                            status, answer = fake.handle(self.command, path, seen.query, body)
            if fault.startswith("timeout"):
                time.sleep(SLOW)
            if path == "/me/shipment/calculate" and fake.quote_delay:
                time.sleep(fake.quote_delay)
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


DEMO_CLIENT_ID = "switchboard-demo"
# The demo shop's dispatch address (the sender on every label).
DEMO_STORE = {
    "MELHOR_ENVIO_FROM_NAME": "Switchboard Coffee (demo)",
    "MELHOR_ENVIO_FROM_PHONE": "11999990000",
    "MELHOR_ENVIO_FROM_EMAIL": "expedicao@demo.switchboard.test",
    "MELHOR_ENVIO_FROM_DOCUMENT": "12345678000195",
    "MELHOR_ENVIO_FROM_POSTAL_CODE": "01001-000",
    "MELHOR_ENVIO_FROM_ADDRESS": "Praça da Sé",
    "MELHOR_ENVIO_FROM_NUMBER": "100",
    "MELHOR_ENVIO_FROM_DISTRICT": "Sé",
    "MELHOR_ENVIO_FROM_CITY": "São Paulo",
    "MELHOR_ENVIO_FROM_STATE": "SP",
}


def app_env(*, api_base: str, client_secret: str, refresh_token: str) -> dict[str, str]:
    """The environment that makes an app process (web, clusters) ship through this fake as its
    active carrier: ``run_demo`` with ``DEMO_CARRIER=melhor_envio``, ``bench.tracking_latency``.
    Plain strings, no Django needed."""
    return {
        "SHIPPING_CARRIER": "melhor_envio",
        "MELHOR_ENVIO_ENABLED": "true",
        "MELHOR_ENVIO_API_BASE": api_base,
        "MELHOR_ENVIO_TOKEN_URL": "",
        "MELHOR_ENVIO_CLIENT_ID": DEMO_CLIENT_ID,
        "MELHOR_ENVIO_CLIENT_SECRET": client_secret,
        "MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS": "",
        "MELHOR_ENVIO_REFRESH_TOKEN": refresh_token,
        "MELHOR_ENVIO_ACCESS_TOKEN": "",
        "MELHOR_ENVIO_CONTACT_EMAIL": "tech@demo.switchboard.test",
        "MELHOR_ENVIO_SERVICES": "",
        **DEMO_STORE,
    }


@contextmanager
def serve_fake_melhor_envio(**options: Any) -> Iterator[FakeMelhorEnvio]:
    """A FakeMelhorEnvio (``options`` are its fields: ``client_secret``, ``webhook_url``, ...)
    on 127.0.0.1; its ``url`` is the API base (ends in ``/api/v2``)."""
    fake = FakeMelhorEnvio(**options)
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = f"{base}/api/v2"
        yield fake


def sign(body: bytes, *, secret: str = CLIENT_SECRET, encoding: str = "base64") -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()
