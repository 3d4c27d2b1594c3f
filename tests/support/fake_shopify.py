"""A fake Shopify Admin REST API on 127.0.0.1 (Fulfillment Orders), and webhook helpers.

It speaks ``/admin/api/<version>/`` like the real one for what the write-back uses:
``GET orders/{id}/fulfillment_orders.json``, ``GET orders/{id}/fulfillments.json`` and
``POST fulfillments.json`` (``{"fulfillment": {"line_items_by_fulfillment_order": [...],
"tracking_info": {...}, "notify_customer": ...}}``, 201 with the fulfilment made, which closes
its fulfilment orders). It refuses what the real one refuses: a missing or wrong
``X-Shopify-Access-Token`` (401), another API version or path (404), an unknown order (404), a
body that is not JSON or lacks ``fulfillment`` / ``line_items_by_fulfillment_order`` (400), and
a fulfilment of a fulfilment order that is not open or in progress (422, "unfulfillable
status"). ``fulfillments_created`` counts fulfilments made.

Faults per ``(method, path)`` (path after the version): ``"500"`` (apply nothing, answer 500),
``"timeout"`` (apply nothing, answer too late), ``"timeout_after_apply"`` (apply, then answer
too late), ``"500_after_apply"`` (apply, then answer 500).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import serve_on_loopback

SHOP = "switchboard-test.myshopify.com"
ACCESS_TOKEN = "shpat_" + "0123456789abcdef0123456789abcdef"
WEBHOOK_SECRET = "shpss_" + "fedcba9876543210fedcba9876543210"
API_VERSION = "2026-10"
SLOW = 3.0
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes


@dataclass
class FakeShopify:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    fulfillments_created: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(5_000_000_001))

    def fail(self, method: str, path: str, *faults: str) -> None:
        self.faults[(method, path)] = list(faults)

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def add_order(self, order_id: str, *line_items: tuple[int, int], name: str = "#1001") -> None:
        """An order with one open fulfilment order holding ``(line item id, quantity)``s."""
        fo_id = next(self.ids)
        with self.lock:
            self.orders[order_id] = {
                "name": name,
                "fulfillments": [],
                "fulfillment_orders": [
                    {
                        "id": fo_id,
                        "order_id": int(order_id),
                        "status": "open",
                        "request_status": "unsubmitted",
                        "supported_actions": ["create_fulfillment", "move", "hold"],
                        "assigned_location_id": 24826418,
                        "line_items": [
                            {
                                "id": next(self.ids),
                                "fulfillment_order_id": fo_id,
                                "line_item_id": line_id,
                                "quantity": quantity,
                                "fulfillable_quantity": quantity,
                            }
                            for line_id, quantity in line_items
                        ],
                    }
                ],
            }

    def close_fulfillment_orders(self, order_id: str) -> None:
        """The merchant fulfilled the order in Shopify's admin, without a tracking number."""
        with self.lock:
            for fo in self.orders[order_id]["fulfillment_orders"]:
                fo["status"] = "closed"

    # The API -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 3 and parts[0] == "orders":
            order = self.orders.get(parts[1])
            if order is None:
                return 404, {"errors": "Not Found"}
            if parts[2] == "fulfillment_orders.json":
                return 200, {"fulfillment_orders": order["fulfillment_orders"]}
            if parts[2] == "fulfillments.json":
                return 200, {"fulfillments": order["fulfillments"]}
        if method == "POST" and path == "/fulfillments.json":
            return self.create_fulfillment(body)
        return 404, {"errors": "Not Found"}

    def create_fulfillment(self, body: Any) -> tuple[int, Any]:
        fulfillment: Any = body.get("fulfillment") if isinstance(body, dict) else None
        if not isinstance(fulfillment, dict):
            return 400, {"errors": {"fulfillment": "Required parameter missing or invalid"}}
        groups = fulfillment.get("line_items_by_fulfillment_order")
        if not isinstance(groups, list) or not groups:
            return 400, {"errors": {"fulfillment": "Required parameter missing or invalid"}}
        by_id = {
            fo["id"]: (order_id, fo)
            for order_id, order in self.orders.items()
            for fo in order["fulfillment_orders"]
        }
        chosen = []
        for group in groups:
            found = (
                by_id.get(group.get("fulfillment_order_id")) if isinstance(group, dict) else None
            )
            if found is None:
                return 422, {"errors": ["Fulfillment order does not exist."]}
            if found[1]["status"] not in ("open", "in_progress"):
                return 422, {
                    "errors": [
                        f"Fulfillment order {found[1]['id']} has an unfulfillable status= "
                        f"{found[1]['status']}."
                    ]
                }
            chosen.append(found)
        if len({order_id for order_id, _ in chosen}) != 1:
            return 422, {"errors": ["Fulfillment orders must belong to the same order."]}
        order_id = chosen[0][0]
        tracking = fulfillment.get("tracking_info") or {}
        number = str(tracking.get("number") or "")
        lines = []
        for _, fo in chosen:
            fo["status"] = "closed"
            for line in fo["line_items"]:
                lines.append({"id": line["line_item_id"], "quantity": line["quantity"]})
                line["fulfillable_quantity"] = 0
        order = self.orders[order_id]
        made = {
            "id": next(self.ids),
            "order_id": int(order_id),
            "status": "success",
            "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
            "tracking_company": tracking.get("company"),
            "tracking_number": number or None,
            "tracking_numbers": [number] if number else [],
            "tracking_url": tracking.get("url"),
            "tracking_urls": [tracking["url"]] if tracking.get("url") else [],
            "line_items": lines,
            "notify_customer": bool(fulfillment.get("notify_customer")),
        }
        order["fulfillments"].append(made)
        self.fulfillments_created += 1
        return 201, {"fulfillment": made}


def _handler_for(fake: FakeShopify) -> type[BaseHTTPRequestHandler]:
    prefix = f"/admin/api/{API_VERSION}"

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            seen = Seen(self.command, path, {k.lower(): v for k, v in self.headers.items()}, raw)
            status: int
            answer: Any
            with fake.lock:
                fake.seen.append(seen)
                inner = path.removeprefix(prefix)
                faults = fake.faults.get((self.command, inner), [])
                fault = faults.pop(0) if faults else ""
                if self.headers.get("X-Shopify-Access-Token") != ACCESS_TOKEN:
                    status, answer = 401, {"errors": INVALID_TOKEN}
                elif not path.startswith(prefix + "/"):
                    status, answer = 404, {"errors": "Not Found"}
                elif fault in ("500", "timeout"):
                    status, answer = 500, {"errors": "Internal Server Error"}
                else:
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        status, answer = (
                            400,
                            {"errors": {"fulfillment": "Required parameter missing or invalid"}},
                        )
                    else:
                        status, answer = fake.handle(self.command, inner, body)
                    if fault == "500_after_apply":
                        status, answer = 500, {"errors": "Internal Server Error"}
            if fault.startswith("timeout"):
                time.sleep(SLOW)
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_shopify() -> Iterator[FakeShopify]:
    """A FakeShopify on 127.0.0.1; its ``url`` is the site (set it as SHOPIFY_API_BASE)."""
    fake = FakeShopify()
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = base
        yield fake


def sign(body: bytes, *, secret: str = WEBHOOK_SECRET) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256(app secret, raw body)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
