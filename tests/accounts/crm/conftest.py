"""HubSpot fixtures: settings, the fake API (tests/support/fake_hubspot.py), signed webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.crm.hubspot.client import HubSpotClient
from accounts.crm.hubspot.webhooks import sign_v3
from accounts.crm.services import crm_contacts_synced
from accounts.models import Customer
from tests.support.fake_hubspot import (
    APP_ID,
    CLIENT_SECRET,
    PORTAL_ID,
    TOKEN,
    FakeHubSpot,
    serve_fake_hubspot,
)
from tests.support.loopback import loopback_session
from tests.support.outbound import Sleeps, fast_outbound


@pytest.fixture(autouse=True)
def hubspot_settings(settings: Any) -> Any:
    settings.HUBSPOT_ENABLED = True
    settings.HUBSPOT_ACCESS_TOKEN = TOKEN
    settings.HUBSPOT_CLIENT_SECRET = CLIENT_SECRET
    settings.HUBSPOT_CLIENT_SECRET_PREVIOUS = ""
    settings.HUBSPOT_APP_ID = APP_ID
    settings.HUBSPOT_PORTAL_ID = PORTAL_ID
    settings.HUBSPOT_COALESCE_SECONDS = 10
    settings.HUBSPOT_OWNER_NAMES = {}
    settings.HUBSPOT_BASE_URL = "http://127.0.0.1:9"
    return fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)


@pytest.fixture
def fake_hubspot(settings: Any) -> Iterator[FakeHubSpot]:
    with serve_fake_hubspot() as fake:
        settings.HUBSPOT_BASE_URL = fake.url
        yield fake


@pytest.fixture
def hubspot_client() -> HubSpotClient:
    return HubSpotClient(session=loopback_session(), sleep=Sleeps())


@pytest.fixture
def linked(customer: Customer) -> Customer:
    """The customer, linked to HubSpot contact 501."""
    crm_contacts_synced(provider="hubspot", contact_ids={customer.pk: "501"}, requested={})
    return customer


@pytest.fixture
def post_hubspot(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """POST a signed delivery to /webhooks/hubspot/ and run what its commit sets off."""

    def post(
        events: list[dict[str, Any]] | bytes,
        *,
        query: str = "",
        secret: str = CLIENT_SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
        signed_uri: str | None = None,
    ) -> Any:
        raw = events if isinstance(events, bytes) else json.dumps(events).encode()
        path = "/webhooks/hubspot/" + (f"?{query}" if query else "")
        stamp = str(timestamp if timestamp is not None else round(time.time() * 1000))
        if signature is None:
            signature = sign_v3(
                secret=secret,
                method="POST",
                uri=signed_uri or f"http://testserver{path}",
                body=raw,
                timestamp=stamp,
            )
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                path,
                data=raw,
                content_type="application/json",
                headers={
                    "X-HubSpot-Signature-v3": signature,
                    "X-HubSpot-Request-Timestamp": stamp,
                },
            )

    return post


def contact_change(
    *, event_id: int, contact_id: str, name: str, value: str, at_ms: int, kind: str = "contact"
) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 12345,
        "portalId": int(PORTAL_ID),
        "appId": int(APP_ID),
        "occurredAt": at_ms,
        "subscriptionType": f"{kind}.propertyChange",
        "attemptNumber": 0,
        "objectId": int(contact_id),
        "propertyName": name,
        "propertyValue": value,
        "changeSource": "CRM",
    }
