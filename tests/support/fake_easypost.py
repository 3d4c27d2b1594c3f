"""A fake EasyPost API (``/v2``) on 127.0.0.1 speaking CONTRACTS §4, and webhook helpers.

Every call needs the API key, as the Basic-auth user (the documented scheme) or as a Bearer token
(what the official SDK sends); 401 with EasyPost's error body otherwise. Bodies are JSON; errors
are ``{"error": {"code", "message", "errors": [...]}}``.

- ``POST /shipments`` (``{"shipment": {...}}``): 422 for a parcel without a positive weight (or
  with a side that is not positive) and for an address without a zip; else a shipment
  ``shp_...`` with its ``reference`` and rates (string amounts in USD).
- ``GET /shipments/{id or reference}``: EasyPost takes a reference in place of an id; 404 else.
- ``POST /shipments/{id}/buy`` (``{"rate": {"id"}}``): 422 when the rate is not the shipment's,
  when the shipment already has postage, or when an address lacks street1, city or zip; else the
  label (``postage_label``), ``tracking_code`` and a ``tracker`` at ``pre_transit``.
  ``labels_bought`` counts purchases.
- ``POST /shipments/{id}/refund``: 422 unless bought, not already refunded and not yet scanned
  by the carrier; else ``refund_status: submitted``.
- ``POST /trackers`` (``{"tracker": {"tracking_code", "carrier"}}``): an existing code answers
  its tracker; ``GET /trackers?tracking_code=``, ``GET /trackers/{id}``.

The error codes are EasyPost-style (``PARCEL.INVALID``...); the exact codes of the live API are
UNCONFIRMED here, the statuses (401, 404, 422) are the SDK's mapping.

Faults per ``(method, route)``, the route with ids as ``*`` (``("POST", "/shipments/*/buy")``):
``"500"`` (apply nothing, answer 500), ``"timeout"`` (apply nothing, answer too late),
``"500_after_apply"`` and ``"timeout_after_apply"`` (apply, then answer 500 / too late).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from django.utils import timezone

from tests.support.loopback import Seen, json_api_handler, serve_on_loopback

API_KEY = "EZTK" + "fakeeasypost0123456789abcdef0123456789abcdef0123"
WEBHOOK_SECRET = "easypost-webhook-secret-0123456789"
SLOW = 3.0
# (carrier, service, base USD, USD per ounce, days)
SERVICES = (
    ("USPS", "GroundAdvantage", 5.10, 0.12, 5),
    ("USPS", "Priority", 8.40, 0.20, 2),
    ("UPS", "Ground", 9.75, 0.18, 4),
)


def ep_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(code: str, message: str, *errors: dict[str, str]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": list(errors)}}


def route(path: str) -> str:
    """``/shipments/shp_1/buy`` -> ``/shipments/*/buy``."""
    parts = path.split("/")
    if len(parts) > 2 and parts[2]:
        parts[2] = "*"
    return "/".join(parts)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@dataclass
class FakeEasyPost:
    url: str = ""
    api_key: str = API_KEY
    seen: list[Seen] = field(default_factory=list)
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)
    trackers: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    labels_bought: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    codes: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, method: str, path_route: str, *faults: str) -> None:
        self.faults[(method, path_route)] = list(faults)

    def requests_to(self, method: str, path_route: str) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.method == method and route(s.path.removeprefix("/v2")) == path_route
        ]

    # The carrier's side ------------------------------------------------------------------

    def scan(
        self,
        tracking_code: str,
        status: str,
        status_detail: str = "",
        *,
        when: datetime,
        city: str = "ORLANDO",
        message: str = "",
    ) -> dict[str, Any]:
        """The carrier scans the parcel: a tracking detail on its tracker; answers the tracker."""
        with self.lock:
            tracker = next(t for t in self.trackers.values() if t["tracking_code"] == tracking_code)
            tracker["tracking_details"].append(
                {
                    "object": "TrackingDetail",
                    "message": message or status.replace("_", " ").capitalize(),
                    "description": message or status,
                    "status": status,
                    "status_detail": status_detail or None,
                    "datetime": ep_time(when),
                    "source": tracker["carrier"],
                    "carrier_code": "",
                    "tracking_location": {
                        "object": "TrackingLocation",
                        "city": city,
                        "state": "FL",
                        "country": "US",
                        "zip": "32809",
                    },
                }
            )
            tracker["tracking_details"].sort(key=lambda d: d["datetime"])
            latest = tracker["tracking_details"][-1]
            tracker["status"], tracker["status_detail"] = latest["status"], latest["status_detail"]
            tracker["updated_at"] = ep_time(timezone.now())
            return json.loads(json.dumps(tracker))

    def tracker_event(self, tracker: dict[str, Any]) -> dict[str, Any]:
        """A ``tracker.updated`` Event as EasyPost posts it."""
        now = ep_time(timezone.now())
        return {
            "id": f"evt_{secrets.token_hex(16)}",
            "object": "Event",
            "description": "tracker.updated",
            "mode": "test",
            "status": "pending",
            "previous_attributes": {},
            "pending_urls": [],
            "completed_urls": [],
            "created_at": now,
            "updated_at": now,
            "user_id": "user_1",
            "result": tracker,
        }

    # The API -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        parts = path.strip("/").split("/")
        if parts[0] == "shipments":
            if method == "POST" and len(parts) == 1:
                return self.create_shipment(body)
            shipment = self._shipment(unquote(parts[1])) if len(parts) > 1 else None
            if shipment is None:
                return 404, _error("NOT_FOUND", "The requested resource could not be found.")
            if method == "GET" and len(parts) == 2:
                return 200, shipment
            if method == "POST" and parts[2:] == ["buy"]:
                return self.buy(shipment, body)
            if method == "POST" and parts[2:] == ["refund"]:
                return self.refund(shipment)
        if parts[0] == "trackers":
            if method == "POST" and len(parts) == 1:
                return self.create_tracker(body)
            if method == "GET" and len(parts) == 1:
                code = query.get("tracking_code", [""])[0]
                found = [t for t in self.trackers.values() if t["tracking_code"] == code]
                return 200, {"trackers": found[::-1], "has_more": False}
            if method == "GET" and len(parts) == 2 and parts[1] in self.trackers:
                return 200, self.trackers[parts[1]]
        return 404, _error("NOT_FOUND", "The requested resource could not be found.")

    def _shipment(self, id_or_reference: str) -> dict[str, Any] | None:
        if id_or_reference in self.shipments:
            return self.shipments[id_or_reference]
        found = [s for s in self.shipments.values() if s["reference"] == id_or_reference]
        return found[-1] if found else None

    def create_shipment(self, body: Any) -> tuple[int, Any]:
        shipment = body.get("shipment") if isinstance(body, dict) else None
        if not isinstance(shipment, dict):
            return 422, _error("PARAMETER.REQUIRED", "Missing required parameter: shipment.")
        parcel = shipment.get("parcel")
        if not isinstance(parcel, dict) or not _positive(parcel.get("weight")):
            return 422, _error(
                "PARCEL.INVALID",
                "Parcel weight must be a positive number.",
                {"field": "weight", "message": "must be greater than 0"},
            )
        for side in ("length", "width", "height"):
            if side in parcel and not _positive(parcel[side]):
                return 422, _error(
                    "PARCEL.INVALID",
                    f"Parcel {side} must be a positive number.",
                    {"field": side, "message": "must be greater than 0"},
                )
        for end in ("to_address", "from_address"):
            address = shipment.get(end)
            if not isinstance(address, dict) or not str(address.get("zip") or "").strip():
                return 422, _error(
                    "ADDRESS.INVALID",
                    f"The {end} is invalid.",
                    {"field": f"{end}.zip", "message": "cannot be blank"},
                )
        shipment_id = f"shp_{secrets.token_hex(16)}"
        ounces = float(parcel["weight"])
        rates = [
            {
                "id": f"rate_{secrets.token_hex(16)}",
                "object": "Rate",
                "mode": "test",
                "carrier": carrier,
                "service": service,
                "rate": f"{base + per_ounce * ounces:.2f}",
                "currency": "USD",
                "retail_rate": None,
                "list_rate": None,
                "delivery_days": days,
                "delivery_date": None,
                "delivery_date_guaranteed": False,
                "est_delivery_days": days,
                "shipment_id": shipment_id,
                "carrier_account_id": f"ca_{carrier.lower()}",
            }
            for carrier, service, base, per_ounce, days in SERVICES
        ]
        now = ep_time(timezone.now())
        record = {
            "id": shipment_id,
            "object": "Shipment",
            "mode": "test",
            "reference": shipment.get("reference"),
            "status": "unknown",
            "to_address": {"object": "Address", **shipment["to_address"]},
            "from_address": {"object": "Address", **shipment["from_address"]},
            "parcel": {"object": "Parcel", "id": f"prcl_{secrets.token_hex(16)}", **parcel},
            "rates": rates,
            "selected_rate": None,
            "postage_label": None,
            "tracking_code": None,
            "tracker": None,
            "refund_status": None,
            "created_at": now,
            "updated_at": now,
        }
        self.shipments[shipment_id] = record
        return 201, record

    def buy(self, shipment: dict[str, Any], body: Any) -> tuple[int, Any]:
        if shipment["postage_label"] is not None:
            return 422, _error(
                "SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment."
            )
        rate_id = (body.get("rate") or {}).get("id") if isinstance(body, dict) else None
        rate = next((r for r in shipment["rates"] if r["id"] == rate_id), None)
        if rate is None:
            return 422, _error("SHIPMENT.RATE.INVALID", "The rate is not one of this shipment's.")
        for end in ("to_address", "from_address"):
            missing = [k for k in ("street1", "city", "zip") if not shipment[end].get(k)]
            if missing:
                return 422, _error(
                    "ADDRESS.VERIFY.FAILURE",
                    f"The {end} cannot be used for a label.",
                    *({"field": f"{end}.{k}", "message": "cannot be blank"} for k in missing),
                )
        code = f"EZ{next(self.codes):010d}"
        now = timezone.now()
        tracker = {
            "id": f"trk_{secrets.token_hex(16)}",
            "object": "Tracker",
            "mode": "test",
            "tracking_code": code,
            "status": "pre_transit",
            "status_detail": "label_created",
            "carrier": rate["carrier"],
            "shipment_id": shipment["id"],
            "public_url": f"https://track.easypost.com/{code}",
            "created_at": ep_time(now),
            "updated_at": ep_time(now),
            "tracking_details": [],
        }
        self.trackers[tracker["id"]] = tracker
        self.scan(code, "pre_transit", "label_created", when=now, message="Label created")
        shipment.update(
            selected_rate=rate,
            tracking_code=code,
            tracker=tracker,
            status="unknown",
            postage_label={
                "id": f"pl_{secrets.token_hex(16)}",
                "object": "PostageLabel",
                "label_url": f"https://easypost-files.example/files/postage_label/{code}.png",
                "label_file_type": "image/png",
                "label_pdf_url": None,
            },
            updated_at=ep_time(now),
        )
        self.labels_bought += 1
        return 200, shipment

    def refund(self, shipment: dict[str, Any]) -> tuple[int, Any]:
        if shipment["postage_label"] is None:
            return 422, _error("SHIPMENT.REFUND.UNAVAILABLE", "This shipment has no postage.")
        if shipment["refund_status"] in ("submitted", "refunded"):
            return 422, _error("SHIPMENT.REFUND.EXISTS", "A refund was already requested.")
        if shipment["tracker"]["status"] not in ("unknown", "pre_transit"):
            return 422, _error("SHIPMENT.REFUND.UNAVAILABLE", "The carrier has scanned this label.")
        shipment["refund_status"] = "submitted"
        return 200, shipment

    def create_tracker(self, body: Any) -> tuple[int, Any]:
        tracker = body.get("tracker") if isinstance(body, dict) else None
        code = tracker.get("tracking_code") if isinstance(tracker, dict) else None
        if not isinstance(tracker, dict) or not isinstance(code, str) or not code.strip():
            return 422, _error(
                "TRACKER.TRACKING_CODE.INVALID",
                "A tracking code is required.",
                {"field": "tracking_code", "message": "cannot be blank"},
            )
        carrier = str(tracker.get("carrier") or "")
        for existing in self.trackers.values():
            if existing["tracking_code"] == code and carrier in ("", existing["carrier"]):
                return 200, existing
        now = ep_time(timezone.now())
        record: dict[str, Any] = {
            "id": f"trk_{secrets.token_hex(16)}",
            "object": "Tracker",
            "mode": "test",
            "tracking_code": code,
            "status": "unknown",
            "status_detail": "unknown",
            "carrier": carrier or "USPS",
            "shipment_id": None,
            "created_at": now,
            "updated_at": now,
            "tracking_details": [],
        }
        self.trackers[record["id"]] = record
        return 201, record

    # The wire ----------------------------------------------------------------------------

    def authorised(self, header: str) -> bool:
        if header.startswith("Bearer "):
            return hmac.compare_digest(header.removeprefix("Bearer ").strip(), self.api_key)
        if header.startswith("Basic "):
            try:
                user = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(user, self.api_key)
        return False

    def respond(self, seen: Seen) -> tuple[int, Any, float]:
        path = seen.path.removeprefix("/v2")
        with self.lock:
            self.seen.append(seen)
            faults = self.faults.get((seen.method, route(path)), [])
            fault = faults.pop(0) if faults else ""
            if not self.authorised(seen.headers.get("authorization", "")):
                return 401, _error("APIKEY.REQUIRED", "No API key or an invalid one."), 0
            if fault in ("500", "timeout"):
                return (
                    500,
                    _error("INTERNAL_SERVER_ERROR", "Something went wrong."),
                    (SLOW if fault == "timeout" else 0),
                )
            try:
                body = json.loads(seen.raw) if seen.raw else None
            except ValueError:
                status, answer = 422, _error("PARAMETER.INVALID", "The body is not JSON.")
            else:
                status, answer = self.handle(seen.method, path, seen.query, body)
            answer = json.loads(json.dumps(answer))  # a snapshot, not the live record
        if fault == "500_after_apply":
            return 500, _error("INTERNAL_SERVER_ERROR", "Something went wrong."), 0
        return status, answer, SLOW if fault == "timeout_after_apply" else 0


@contextmanager
def serve_fake_easypost() -> Iterator[FakeEasyPost]:
    """A FakeEasyPost on 127.0.0.1; its ``url`` is the API base (ends in ``/v2``)."""
    fake = FakeEasyPost()
    with serve_on_loopback(json_api_handler(fake.respond)) as base:
        fake.url = f"{base}/v2"
        yield fake


def sign(body: bytes, *, secret: str = WEBHOOK_SECRET) -> str:
    """``X-Hmac-Signature`` as EasyPost computes it (NFKD secret, hex HMAC-SHA256 of the body)."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()
