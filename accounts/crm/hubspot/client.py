"""HubSpot's date-versioned HTTP API through the shared ``ProviderClient``.

Only date-versioned paths are called, never the legacy ``/crm/v3`` ones (unsupported from 2027):

* ``POST /crm/objects/2026-09/contacts/batch/upsert`` (``idProperty`` email, at most 100 inputs);
* ``POST /crm/objects/2026-09/notes`` with an association to the contact (type 202);
* ``GET /crm/objects/2026-09/deals/{id}?associations=contacts`` (a won deal's contacts);
* ``GET /webhooks-journal/2026-03/{appId}/events?offset=..&limit=..`` (the Webhooks Journal;
  the path and page shape are an assumption, docs/crm.md).

The official ``hubspot-api-client`` SDK is not used: it speaks the legacy ``/crm/v3`` paths.
Every request first takes a token from the shared bucket (``ratelimit.py``), then goes through
the ledger, retries, timeouts and circuit breaker of the shared client. The token is sent as a
Bearer header and is a secret value of the client: it never reaches a ProviderCall row or a log.
HubSpot takes no idempotency keys: the upsert is idempotent by e-mail, so it is sent with a
key (informational header) and retried; a note is not, so its key only goes to the ledger.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from accounts.crm.base import ContactInput, ContactResult, DealInfo
from accounts.crm.hubspot.ratelimit import TokenBucket
from integrations.credentials import credential_get
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.outbound.client import ProviderClient

PROVIDER = "hubspot"
API_VERSION = "2026-09"
JOURNAL_VERSION = "2026-03"
BATCH_LIMIT = 100
NOTE_TO_CONTACT = 202


class TokenMissing(ProviderRejected):
    """No HubSpot access token: set HUBSPOT_ACCESS_TOKEN or store one encrypted."""

    code = "crm_token_missing"
    http_status = 503
    title = "CRM authorisation needed"


class JournalOffsetExpired(ProviderRejected):
    """The stored journal offset is older than the journal keeps (3 days)."""

    code = "crm_journal_offset_expired"
    http_status = 502
    title = "CRM journal offset expired"


@dataclass(frozen=True)
class JournalPage:
    events: list[dict[str, Any]] = field(default_factory=list)
    next_offset: str = ""
    has_more: bool = False


def access_token() -> str:
    if settings.HUBSPOT_ACCESS_TOKEN:
        return str(settings.HUBSPOT_ACCESS_TOKEN)
    stored = credential_get(provider=PROVIDER, name="access_token")
    if stored is None:
        raise TokenMissing("No HubSpot access token configured.", provider=PROVIDER)
    return stored.value


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"{PROVIDER}: the answer is not JSON (HTTP {response.status_code}).",
            provider=PROVIDER,
            status_code=response.status_code,
        ) from None


class HubSpotClient:
    """The CRM adapter (``CrmSync``). Raises ``ProviderRejected`` (4xx), ``TokenMissing``,
    ``ProviderUnavailable``/``CircuitOpen``/``RateLimited`` (retry later) and ``RuntimeError``
    inside ``transaction.atomic``."""

    name = PROVIDER

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        max_attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.bucket = TokenBucket(
            name=PROVIDER,
            capacity=settings.HUBSPOT_RATE_LIMIT_REQUESTS,
            period=settings.HUBSPOT_RATE_LIMIT_SECONDS,
            clock=clock,
            sleep=sleep,
        )

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
        key_header: str | None = None,
    ) -> Any:
        token = access_token()
        client = ProviderClient(
            PROVIDER,
            settings.HUBSPOT_BASE_URL,
            default_headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            secret_values=(token,),
            max_attempts=self.max_attempts,
            session=self.session,
            sleep=self.sleep,
        )
        self.bucket.acquire(max_wait=settings.HUBSPOT_RATE_LIMIT_MAX_WAIT_SECONDS)
        response = client.request(
            operation,
            method,
            path,
            json=json,
            params=params,
            idempotency_key=key,
            idempotency_header=key_header,
        )
        return _json(response) if response.content else {}

    def upsert_contacts(self, contacts: Sequence[ContactInput]) -> list[ContactResult]:
        """Create or update up to 100 contacts by e-mail; answers their ids by e-mail."""
        if not contacts:
            return []
        if len(contacts) > BATCH_LIMIT:
            raise ProviderRejected(
                f"{PROVIDER}: at most {BATCH_LIMIT} contacts per batch upsert.",
                provider=PROVIDER,
            )
        inputs = [
            {"idProperty": "email", "id": c.email.lower(), "properties": dict(c.properties)}
            for c in contacts
        ]
        seed = "|".join(sorted(f"{c.customer_id}:{c.email.lower()}" for c in contacts))
        answer = self._request(
            "contacts.batch_upsert",
            "POST",
            f"/crm/objects/{API_VERSION}/contacts/batch/upsert",
            json={"inputs": inputs},
            key=f"hubspot-upsert:{hashlib.sha256(seed.encode()).hexdigest()[:48]}",
            key_header="X-Switchboard-Idempotency-Key",
        )
        results = []
        for row in answer.get("results") or []:
            if not isinstance(row, dict) or not row.get("id"):
                continue
            email = str((row.get("properties") or {}).get("email") or "").lower()
            results.append(ContactResult(email=email, contact_id=str(row["id"])))
        return results

    def add_note(self, *, contact_id: str, body: str, at: datetime, key: str) -> str:
        """A note on the contact's timeline at ``at``; answers the note's id. Not idempotent at
        HubSpot: the caller keeps one note per event (``CrmNote``)."""
        answer = self._request(
            "notes.create",
            "POST",
            f"/crm/objects/{API_VERSION}/notes",
            json={
                "properties": {
                    "hs_note_body": body,
                    "hs_timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                },
                "associations": [
                    {
                        "to": {"id": contact_id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": NOTE_TO_CONTACT,
                            }
                        ],
                    }
                ],
            },
            key=key,
        )
        return str(answer.get("id") or "")

    def deal(self, deal_id: str) -> DealInfo:
        """The deal's stage, plan (HUBSPOT_DEAL_PLAN_PROPERTY) and associated contacts."""
        plan_property = settings.HUBSPOT_DEAL_PLAN_PROPERTY
        answer = self._request(
            "deals.read",
            "GET",
            f"/crm/objects/{API_VERSION}/deals/{quote(deal_id, safe='')}",
            params={"properties": f"dealstage,{plan_property}", "associations": "contacts"},
        )
        properties = answer.get("properties") or {}
        contacts = ((answer.get("associations") or {}).get("contacts") or {}).get("results") or []
        return DealInfo(
            deal_id=str(answer.get("id") or deal_id),
            stage=str(properties.get("dealstage") or ""),
            plan=str(properties.get(plan_property) or ""),
            contact_ids=tuple(
                str(c["id"]) for c in contacts if isinstance(c, dict) and c.get("id")
            ),
        )

    def journal_read(self, *, offset: str, limit: int) -> JournalPage:
        """One page of the Webhooks Journal from ``offset`` (blank: the oldest kept). Raises
        JournalOffsetExpired when the offset is older than the journal keeps."""
        params: dict[str, Any] = {"limit": limit}
        if offset:
            params["offset"] = offset
        try:
            answer = self._request(
                "journal.read",
                "GET",
                f"/webhooks-journal/{JOURNAL_VERSION}/{quote(str(settings.HUBSPOT_APP_ID))}/events",
                params=params,
            )
        except ProviderRejected as exc:
            if exc.status_code == 410:
                raise JournalOffsetExpired(
                    f"{PROVIDER}: journal offset {offset} is no longer kept.",
                    provider=PROVIDER,
                    operation="journal.read",
                    status_code=410,
                ) from None
            raise
        events = [e for e in answer.get("results") or [] if isinstance(e, dict)]
        return JournalPage(
            events=events,
            next_offset=str(answer.get("nextOffset") or offset),
            has_more=bool(answer.get("hasMore")),
        )
