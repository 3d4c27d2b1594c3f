"""A fake HubSpot API on 127.0.0.1 speaking the date-versioned endpoints of CONTRACTS §8.

It refuses what HubSpot refuses: the legacy ``/crm/v3`` paths (410 with HubSpot's error body),
a missing or wrong Bearer token (401), a batch upsert of no input or more than 100, an input
not keyed by e-mail or with a property the portal does not have (400), a note without a
timestamp or associated to an unknown contact (400), more than 190 requests in 10 seconds
(429 with ``Retry-After``), and a Webhooks Journal offset older than the 3 days it keeps (410).

The journal (path ``/webhooks-journal/2026-03/{appId}/events``, an assumption documented in
docs/crm.md) holds every change made with ``change()``; ``clock`` dates them and prunes what is
older than 3 days. ``outage`` makes every call answer 503 until cleared.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import serve_on_loopback

TOKEN = "pat-na1-00000000-1111-2222-3333-444444444444"
CLIENT_SECRET = "hubspot-client-secret-0123456789"
APP_ID = "54321"
PORTAL_ID = "62515"
RATE_LIMIT, RATE_WINDOW = 190, 10.0
JOURNAL_RETENTION_SECONDS = 3 * 24 * 3600
PORTAL_PROPERTIES = frozenset(
    {
        "email",
        "firstname",
        "lastname",
        "phone",
        "hubspot_owner_id",
        "lifecyclestage",
        "dealstage",
        # Created in the portal for Switchboard (docs/crm.md).
        "switchboard_customer_id",
        "switchboard_lifetime_value",
        "switchboard_lifetime_value_currency",
        "switchboard_orders_count",
    }
)


def error_body(message: str, category: str) -> dict[str, Any]:
    """HubSpot's error shape (CONTRACTS §8)."""
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        "context": {},
        "errors": [],
        "links": {},
    }


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


@dataclass
class FakeHubSpot:
    url: str = ""
    token: str = TOKEN
    app_id: str = APP_ID
    clock: Callable[[], float] = time.time
    """Dates journal entries and prunes those older than 3 days."""
    rate_clock: Callable[[], float] = time.monotonic
    outage: bool = False
    seen: list[Seen] = field(default_factory=list)
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal: list[dict[str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))
    _event_ids: Iterator[int] = field(default_factory=lambda: itertools.count(9001))
    _offsets: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, path_part: str) -> list[Seen]:
        return [s for s in self.seen if path_part in s.path]

    def contact_id(self, email: str) -> str | None:
        return next(
            (cid for cid, props in self.contacts.items() if props.get("email") == email), None
        )

    def add_deal(self, *, stage: str, name: str, contact_ids: list[str]) -> str:
        deal_id = str(next(self._ids))
        self.deals[deal_id] = {"dealstage": stage, "dealname": name, "contacts": contact_ids}
        return deal_id

    def change(
        self, *, kind: str, object_id: str, name: str, value: str, at: float | None = None
    ) -> dict[str, Any]:
        """A change made in HubSpot: kept in the journal; answers the webhook event."""
        when = self.clock() if at is None else at
        event = {
            "eventId": next(self._event_ids),
            "subscriptionId": 12345,
            "portalId": int(PORTAL_ID),
            "appId": int(self.app_id),
            "occurredAt": round(when * 1000),
            "subscriptionType": f"{kind}.propertyChange",
            "attemptNumber": 0,
            "objectId": int(object_id),
            "propertyName": name,
            "propertyValue": value,
            "changeSource": "CRM",
        }
        with self._lock:
            self.journal.append({"offset": next(self._offsets), "at": when, "event": event})
        return event

    def _prune(self) -> None:
        horizon = self.clock() - JOURNAL_RETENTION_SECONDS
        self.journal = [entry for entry in self.journal if entry["at"] >= horizon]

    def _limited(self) -> bool:
        now = self.rate_clock()
        while self._recent and now - self._recent[0] >= RATE_WINDOW:
            self._recent.popleft()
        if len(self._recent) >= RATE_LIMIT:
            return True
        self._recent.append(now)
        return False

    def respond(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.seen.append(seen)
        if "/v3/" in seen.path or seen.path.startswith("/crm/v3"):
            return 410, error_body("This API version is no longer supported.", "GONE"), {}
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return (
                401,
                error_body(
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication.",
                    "INVALID_AUTHENTICATION",
                ),
                {},
            )
        with self._lock:
            limited = self._limited()
        if limited:
            return (
                429,
                error_body("You have reached your secondly limit.", "RATE_LIMITS"),
                {"Retry-After": "1"},
            )
        if self.outage:
            return 503, error_body("Service unavailable.", "INTERNAL_ERROR"), {}
        route = (seen.method, seen.path)
        if route == ("POST", "/crm/objects/2026-09/contacts/batch/upsert"):
            return self._upsert(seen.body or {})
        if route == ("POST", "/crm/objects/2026-09/notes"):
            return self._note(seen.body or {})
        if seen.method == "GET" and seen.path.startswith("/crm/objects/2026-09/deals/"):
            return self._deal(seen.path.rsplit("/", 1)[-1])
        if seen.method == "GET" and seen.path == f"/webhooks-journal/2026-03/{self.app_id}/events":
            return self._journal(seen.query)
        return 404, error_body("Resource not found.", "OBJECT_NOT_FOUND"), {}

    def _upsert(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return 400, error_body("inputs must hold 1 to 100 items.", "VALIDATION_ERROR"), {}
        results = []
        with self._lock:
            for item in inputs:
                props = item.get("properties") or {}
                if item.get("idProperty") != "email" or not item.get("id"):
                    return (
                        400,
                        error_body("idProperty email and id needed.", "VALIDATION_ERROR"),
                        {},
                    )
                unknown = set(props) - PORTAL_PROPERTIES
                if unknown or not all(isinstance(v, str) for v in props.values()):
                    return (
                        400,
                        error_body(
                            f"Property {sorted(unknown)} does not exist.", "VALIDATION_ERROR"
                        ),
                        {},
                    )
                email = str(item["id"]).lower()
                contact_id = self.contact_id(email)
                new = contact_id is None
                if contact_id is None:
                    contact_id = str(next(self._ids))
                    self.contacts[contact_id] = {}
                self.contacts[contact_id].update({**props, "email": email})
                results.append(
                    {
                        "id": contact_id,
                        "properties": dict(self.contacts[contact_id]),
                        "createdAt": "2026-03-02T12:00:00Z",
                        "updatedAt": "2026-03-02T12:00:00Z",
                        "archived": False,
                        "new": new,
                    }
                )
        return 200, {"status": "COMPLETE", "results": results}, {}

    def _note(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        props = body.get("properties") or {}
        if not props.get("hs_timestamp"):
            return 400, error_body("hs_timestamp is required.", "VALIDATION_ERROR"), {}
        for association in body.get("associations") or []:
            target = str((association.get("to") or {}).get("id"))
            types = association.get("types") or []
            if target not in self.contacts or not any(
                t.get("associationTypeId") == 202 for t in types
            ):
                return 400, error_body("Invalid association.", "VALIDATION_ERROR"), {}
        note_id = str(next(self._ids))
        self.notes.append({"id": note_id, **body})
        return 201, {"id": note_id, "properties": props, "archived": False}, {}

    def _deal(self, deal_id: str) -> tuple[int, Any, dict[str, str]]:
        deal = self.deals.get(deal_id)
        if deal is None:
            return 404, error_body("Deal not found.", "OBJECT_NOT_FOUND"), {}
        contacts = [{"id": c, "type": "deal_to_contact"} for c in deal["contacts"]]
        return (
            200,
            {
                "id": deal_id,
                "properties": {"dealstage": deal["dealstage"], "dealname": deal["dealname"]},
                "associations": {"contacts": {"results": contacts}},
            },
            {},
        )

    def _journal(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self._prune()
            limit = int((query.get("limit") or ["100"])[0])
            raw_offset = (query.get("offset") or [""])[0]
            oldest = self.journal[0]["offset"] if self.journal else None
            if raw_offset:
                offset = int(raw_offset)
                if oldest is not None and offset < oldest:
                    return (
                        410,
                        error_body("The offset is older than the journal keeps.", "GONE"),
                        {},
                    )
            else:
                offset = oldest or 1
            page = [e for e in self.journal if e["offset"] >= offset][:limit]
            last = page[-1]["offset"] if page else offset - 1
            more = any(e["offset"] > last for e in self.journal)
        return (
            200,
            {
                "results": [{**e["event"], "offset": e["offset"]} for e in page],
                "nextOffset": str(last + 1),
                "hasMore": more,
            },
            {},
        )


def _handler(fake: FakeHubSpot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            seen = Seen(
                self.command,
                split.path,
                parse_qs(split.query),
                {k.lower(): v for k, v in self.headers.items()},
                raw,
            )
            status, answer, headers = fake.respond(seen)
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_hubspot(**kwargs: Any) -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot(**kwargs)
    with serve_on_loopback(_handler(fake)) as url:
        fake.url = url
        yield fake
