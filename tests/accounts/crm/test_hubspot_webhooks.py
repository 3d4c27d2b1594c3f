"""Issue 14 item 2: /webhooks/hubspot/ verified with X-HubSpot-Signature-v3 (full URI, 5-minute
window), batched arrays deduplicated per eventId, CRM-owned properties flowing back and
Switchboard-owned ones ignored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import pytest

from accounts.crm.hubspot.webhooks import endpoint, sign_v3
from accounts.customers.summary import customer_summary
from accounts.models import CrmRecord, Customer
from integrations.models import DomainEvent, WebhookEvent, WebhookRejection
from integrations.webhooks.registry import SignatureRejected
from tests.accounts.crm.conftest import contact_change
from tests.support.fake_hubspot import CLIENT_SECRET

pytestmark = pytest.mark.django_db
NOW_MS = 1_780_000_000_000


def test_the_v3_signature_matches_the_contracts_vector(settings: Any) -> None:
    """CONTRACTS §8: the v3 vector (HubSpot v1 doc example body, its secret, ts 1564113600000)."""
    body = (
        b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
        b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
    )
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    # The algorithm written out once more, independently of sign_v3.
    source = b"POST" + b"https://www.example.com/webhook_uri" + body + b"1564113600000"
    expected = base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest())
    ours = sign_v3(
        secret=secret,
        method="POST",
        uri="https://www.example.com/webhook_uri",
        body=body,
        timestamp="1564113600000",
    )
    assert ours == expected.decode() == "DxmVAjFNa2xfF3YgQjdZP6TNcok9k1oaH7UXombPtvw="
    settings.HUBSPOT_CLIENT_SECRET = secret
    endpoint.verify_request(
        method="POST",
        uri="https://www.example.com/webhook_uri",
        headers={"X-HubSpot-Signature-v3": ours, "X-HubSpot-Request-Timestamp": "1564113600000"},
        body=body,
        now_ms=1564113600000 + 299_000,
    )


def test_a_property_change_flows_back_to_the_crm_record(linked: Customer, post_hubspot: Any):
    at = round(time.time() * 1000)
    response = post_hubspot(
        [
            contact_change(
                event_id=11, contact_id="501", name="lifecyclestage", value="customer", at_ms=at
            ),
            contact_change(
                event_id=12, contact_id="501", name="hubspot_owner_id", value="77", at_ms=at
            ),
        ]
    )

    assert response.status_code == 200
    record = CrmRecord.objects.get(customer=linked)
    assert (record.lifecycle_stage, record.owner_id) == ("customer", "77")
    updates = DomainEvent.objects.filter(customer=linked, type="crm.contact_updated")
    assert sorted(e.data["field"] for e in updates) == ["lifecycle_stage", "owner"]
    statuses = dict(WebhookEvent.objects.values_list("event_id", "status"))
    assert statuses["hs_11"] == statuses["hs_12"] == "processed"


def test_the_crm_summary_part_shows_owner_stage_and_record_link(
    settings: Any, linked: Customer, post_hubspot: Any
) -> None:
    settings.HUBSPOT_OWNER_NAMES = {"77": "bruno@example.test"}
    at = round(time.time() * 1000)
    post_hubspot(
        [
            contact_change(
                event_id=1, contact_id="501", name="hubspot_owner_id", value="77", at_ms=at
            ),
            contact_change(
                event_id=2, contact_id="501", name="dealstage", value="qualified", at_ms=at
            ),
        ]
    )
    crm = customer_summary(customer=linked)["crm"]
    assert crm["owner"] == "bruno@example.test"
    assert crm["deal_stage"] == "qualified"
    assert crm["lifecycle_stage"] is None
    assert crm["record_url"] == "https://app.hubspot.com/contacts/62515/record/0-1/501"
    assert crm["synced_at"]


def test_an_unlinked_customer_has_no_crm_summary(customer: Customer) -> None:
    summary = customer_summary(customer=customer)
    assert summary["crm"] is None
    assert summary["plan"] == {"name": None, "activated_at": None}


def test_an_inbound_change_to_a_switchboard_owned_property_is_ignored_and_logged(
    linked: Customer, post_hubspot: Any, caplog: Any
) -> None:
    at = round(time.time() * 1000)
    with caplog.at_level("WARNING"):
        response = post_hubspot(
            [
                contact_change(
                    event_id=21, contact_id="501", name="email", value="x@evil.test", at_ms=at
                ),
                contact_change(
                    event_id=22, contact_id="501", name="phone", value="+15550000", at_ms=at
                ),
                contact_change(
                    event_id=23,
                    contact_id="501",
                    name="switchboard_lifetime_value",
                    value="0",
                    at_ms=at,
                ),
            ]
        )
    assert response.status_code == 200
    linked.refresh_from_db()
    assert (linked.email, linked.phone) == ("ana@example.test", "+5511987654321")
    assert not DomainEvent.objects.filter(
        type__in=["crm.contact_updated", "customer.updated"]
    ).exists()
    assert "crm.inbound_change_to_switchboard_owned_property_ignored" in caplog.text


def test_each_event_of_a_batch_is_deduplicated_by_event_id(linked: Customer, post_hubspot: Any):
    at = round(time.time() * 1000)
    first = contact_change(
        event_id=31, contact_id="501", name="lifecyclestage", value="lead", at_ms=at
    )
    second = contact_change(
        event_id=32, contact_id="501", name="lifecyclestage", value="customer", at_ms=at + 1000
    )
    assert post_hubspot([first]).status_code == 200
    # HubSpot retries with the first event re-batched next to a new one, then the same batch.
    assert post_hubspot([first, second]).status_code == 200
    assert post_hubspot([first, second]).json()["status"] == "duplicate"

    assert WebhookEvent.objects.filter(event_id__in=["hs_31", "hs_32"]).count() == 2
    assert CrmRecord.objects.get(customer=linked).lifecycle_stage == "customer"
    assert DomainEvent.objects.filter(type="crm.contact_updated").count() == 2


@pytest.mark.parametrize("permutation", list(itertools.permutations(range(3))))
def test_changes_out_of_order_end_in_the_newest_value(
    linked: Customer, post_hubspot: Any, permutation: tuple[int, ...]
) -> None:
    at = round(time.time() * 1000)
    changes = [
        contact_change(
            event_id=40 + i, contact_id="501", name="lifecyclestage", value=v, at_ms=at + i
        )
        for i, v in enumerate(["lead", "opportunity", "customer"])
    ]
    for i in permutation:
        assert post_hubspot([changes[i]]).status_code == 200
    assert CrmRecord.objects.get(customer=linked).lifecycle_stage == "customer"


def test_the_full_uri_with_its_query_string_is_signed(linked: Customer, post_hubspot: Any):
    at = round(time.time() * 1000)
    body = [
        contact_change(event_id=51, contact_id="501", name="lifecyclestage", value="lead", at_ms=at)
    ]
    ok = post_hubspot(body, query="portal=62515&b=2")
    assert ok.status_code == 200
    # Signed without the query string, or with the query reordered: not what HubSpot called.
    body2 = [
        contact_change(event_id=52, contact_id="501", name="lifecyclestage", value="x", at_ms=at)
    ]
    no_query = post_hubspot(
        body2, query="portal=62515&b=2", signed_uri="http://testserver/webhooks/hubspot/"
    )
    reordered = post_hubspot(
        body2,
        query="portal=62515&b=2",
        signed_uri="http://testserver/webhooks/hubspot/?b=2&portal=62515",
    )
    other_scheme = post_hubspot(
        body2,
        query="portal=62515&b=2",
        signed_uri="https://testserver/webhooks/hubspot/?portal=62515&b=2",
    )
    assert (no_query.status_code, reordered.status_code, other_scheme.status_code) == (
        401,
        401,
        401,
    )
    assert not WebhookEvent.objects.filter(event_id="hs_52").exists()


@pytest.mark.parametrize(
    "forge",
    ["missing", "garbage", "wrong_secret", "other_body", "v1_hex"],
)
def test_a_forged_signature_is_refused_and_logged(
    linked: Customer, post_hubspot: Any, forge: str
) -> None:
    at = round(time.time() * 1000)
    body = [
        contact_change(event_id=61, contact_id="501", name="lifecyclestage", value="x", at_ms=at)
    ]
    raw = json.dumps(body).encode()
    stamp = str(at)
    signature = {
        "missing": "",
        "garbage": "not-a-signature",
        "wrong_secret": sign_v3(
            secret="another-secret-123456",
            method="POST",
            uri="http://testserver/webhooks/hubspot/",
            body=raw,
            timestamp=stamp,
        ),
        "other_body": sign_v3(
            secret=CLIENT_SECRET,
            method="POST",
            uri="http://testserver/webhooks/hubspot/",
            body=b"[]",
            timestamp=stamp,
        ),
        "v1_hex": hashlib.sha256(CLIENT_SECRET.encode() + raw).hexdigest(),
    }[forge]
    response = post_hubspot(raw, signature=signature, timestamp=at)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.filter(provider="hubspot").exists()
    assert CrmRecord.objects.get(customer=linked).lifecycle_stage == ""


@pytest.mark.parametrize("age_ms", [300_001, 3_600_000, -310_000])
def test_an_expired_or_replayed_old_delivery_is_refused(
    linked: Customer, post_hubspot: Any, age_ms: int
) -> None:
    """A correctly signed delivery whose timestamp is outside the 5-minute window (a replay of
    an old capture, or a clock far ahead) is refused."""
    stamp = round(time.time() * 1000) - age_ms
    body = [
        contact_change(event_id=71, contact_id="501", name="lifecyclestage", value="x", at_ms=stamp)
    ]
    response = post_hubspot(body, timestamp=stamp)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.filter(provider="hubspot").exists()


def test_a_replay_within_the_window_changes_nothing(linked: Customer, post_hubspot: Any) -> None:
    at = round(time.time() * 1000)
    body = [
        contact_change(event_id=81, contact_id="501", name="lifecyclestage", value="lead", at_ms=at)
    ]
    assert post_hubspot(body, timestamp=at).json()["status"] == "stored"
    assert post_hubspot(body, timestamp=at).json()["status"] == "duplicate"
    assert DomainEvent.objects.filter(type="crm.contact_updated").count() == 1


@pytest.mark.parametrize(
    "stamp",
    ["", "12ab", "١٢٣٤٥٦٧٨٩٠١٢٣", "9" * 40],
)
def test_a_malformed_timestamp_is_refused_without_a_500(stamp: str) -> None:
    with pytest.raises(SignatureRejected):
        endpoint.verify_request(
            method="POST",
            uri="http://testserver/webhooks/hubspot/",
            headers={"X-HubSpot-Signature-v3": "abc", "X-HubSpot-Request-Timestamp": stamp},
            body=b"[]",
        )


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"eventId": 1}',
        b'[{"eventId": "1", "subscriptionType": "contact.propertyChange", "objectId": 1, "occurredAt": 1}]',
        b'[{"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 1, "occurredAt": 99999999999999999}]',
        b'[{"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 1, "occurredAt": 1, "propertyValue": 5}]',
        b"[1, 2]",
    ],
)
def test_a_malformed_body_is_400_and_nothing_stored(post_hubspot: Any, raw: bytes) -> None:
    response = post_hubspot(raw)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
