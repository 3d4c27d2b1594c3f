"""Every webhook endpoint the project serves, as the fuzzing tests drive it: the settings that
enable it with test secrets, how a body is signed so that a hostile one gets past verification
and reaches the parser, and the shape of a well-formed event for the hostile mutations to start
from (recorded payloads where the tests keep them, the documented envelope otherwise)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from hypothesis import strategies as st

from accounts.crm.hubspot.webhooks import sign_v3
from tests.support import (
    fake_asaas,
    fake_easypost,
    fake_hubspot,
    fake_melhor_envio,
    fake_resend,
    fake_shopify,
    fake_twilio,
    fake_zapi,
)

TESTS = Path(__file__).resolve().parents[1]
NOW = "2026-01-15T12:00:00+00:00"
REFERENCES = ["payment:1", "refund:1", "shipment:1", "order:1", "1", ""]


def _recorded(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def _standard(body: bytes) -> dict[str, str]:
    key = base64.b64decode(django_settings.SANDBOX_WEBHOOK_SECRET.removeprefix("whsec_"))
    msg_id, stamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


STRIPE_SECRET = "whsec_fuzz_0123456789"


def _stripe(body: bytes) -> dict[str, str]:
    stamp = int(time.time())
    mac = hmac.new(STRIPE_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return {"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}"}


def _melhor_envio(body: bytes) -> dict[str, str]:
    digest = hmac.new(fake_melhor_envio.CLIENT_SECRET.encode(), body, hashlib.sha256).digest()
    return {"X-ME-Signature": base64.b64encode(digest).decode()}


def _resend(body: bytes) -> dict[str, str]:
    key = base64.b64decode(fake_resend.SIGNING_SECRET.removeprefix("whsec_"))
    msg_id, stamp = f"msg_{uuid.uuid4().hex[:24]}", str(int(time.time()))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "svix-id": msg_id,
        "svix-timestamp": stamp,
        "svix-signature": "v1," + base64.b64encode(digest).decode(),
    }


def _hubspot(body: bytes) -> dict[str, str]:
    stamp = str(round(time.time() * 1000))
    signature = sign_v3(
        secret=fake_hubspot.CLIENT_SECRET,
        method="POST",
        uri="http://testserver/webhooks/hubspot/",
        body=body,
        timestamp=stamp,
    )
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}


def _shopify(body: bytes) -> dict[str, str]:
    return {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": fake_shopify.sign(body),
        "X-Shopify-Shop-Domain": fake_shopify.SHOP,
        "X-Shopify-API-Version": fake_shopify.API_VERSION,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-03-02T12:00:06.000000Z",
    }


TWILIO_CALLBACK_URL = "https://switchboard.example.com/webhooks/twilio/"


def twilio_signature(params: Mapping[str, str]) -> dict[str, str]:
    return {
        "X-Twilio-Signature": fake_twilio.twilio_signature(
            fake_twilio.AUTH_TOKEN, TWILIO_CALLBACK_URL, params
        )
    }


@dataclass(frozen=True)
class Target:
    """One webhook endpoint: ``settings`` enable it, ``sign`` gives the headers that authenticate
    a body, ``envelope`` draws a well-formed event (a dict, or a list for HubSpot)."""

    name: str
    path: str
    sign: Callable[[bytes], dict[str, str]]
    envelope: Any
    settings: dict[str, Any] = field(default_factory=dict)
    anymail: dict[str, Any] = field(default_factory=dict)


def _event(**fields: Any) -> Any:
    return st.fixed_dictionaries(
        {k: v if hasattr(v, "example") else st.just(v) for k, v in fields.items()}
    )


sandbox_data = st.fixed_dictionaries(
    {
        "id": st.just("obj_1"),
        "reference": st.sampled_from(REFERENCES),
        "amount": st.integers(0, 10**6),
        "currency": st.just("BRL"),
        "tracking_code": st.just("TRK1"),
        "status": st.sampled_from(["delivered", "in_transit", "failed"]),
    }
)


def _sandbox(name: str, types: list[str]) -> Target:
    return Target(
        name=name,
        path=f"/webhooks/{name}/",
        sign=_standard,
        envelope=_event(type=st.sampled_from(types), timestamp=NOW, data=sandbox_data),
    )


def _stripe_events() -> Any:
    recorded = _recorded(TESTS / "payments" / "stripe" / "fixtures")

    def stamp(event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "id": f"evt_{uuid.uuid4().hex}", "created": int(time.time())}

    return st.sampled_from(recorded).map(stamp)


def _asaas_events() -> Any:
    recorded = _recorded(TESTS / "payments" / "asaas" / "payloads")
    return st.sampled_from(recorded).map(lambda e: {**e, "id": f"evt_{uuid.uuid4().hex}"})


TARGETS = [
    _sandbox("sandbox-payments", ["payment.succeeded", "payment.failed", "refund.succeeded"]),
    _sandbox("sandbox-shipping", ["tracking.updated", "shipment.delivered"]),
    _sandbox("sandbox-messaging", ["message.delivered", "message.failed"]),
    Target(
        name="stripe",
        path="/webhooks/stripe/",
        sign=_stripe,
        envelope=_stripe_events(),
        settings={
            "STRIPE_ENABLED": True,
            "STRIPE_SECRET_KEY": "sk_test_fuzz",
            "STRIPE_WEBHOOK_SECRETS": [STRIPE_SECRET],
            "STRIPE_API_BASE": "http://127.0.0.1:9",
        },
    ),
    Target(
        name="asaas",
        path="/webhooks/asaas/",
        sign=lambda body: {"asaas-access-token": fake_asaas.WEBHOOK_TOKEN},
        envelope=_asaas_events(),
        settings={
            "ASAAS_ENABLED": True,
            "ASAAS_WEBHOOK_TOKEN": fake_asaas.WEBHOOK_TOKEN,
            "ASAAS_API_KEY": fake_asaas.API_KEY,
            "ASAAS_API_BASE": "http://127.0.0.1:9",
        },
    ),
    Target(
        name="melhor-envio",
        path="/webhooks/melhor-envio/",
        sign=_melhor_envio,
        envelope=_event(
            event=st.sampled_from(["order.posted", "order.delivered", "order.canceled", "x"]),
            data=st.fixed_dictionaries(
                {
                    "id": st.just("9a1b2c3d-0000-4000-8000-000000000001"),
                    "protocol": st.just("ORD-2026010100001"),
                    "status": st.sampled_from(["posted", "delivered", "canceled"]),
                    "tracking": st.just("BR123456789BR"),
                    "updated_at": st.just("2026-01-15 12:00:00"),
                    "tags": st.just([{"tag": "shipment:1", "url": None}]),
                }
            ),
        ),
        settings={
            "MELHOR_ENVIO_ENABLED": True,
            "MELHOR_ENVIO_CLIENT_ID": fake_melhor_envio.CLIENT_ID,
            "MELHOR_ENVIO_CLIENT_SECRET": fake_melhor_envio.CLIENT_SECRET,
            "MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS": "",
            "MELHOR_ENVIO_API_BASE": "http://127.0.0.1:9",
        },
    ),
    Target(
        name="easypost",
        path="/webhooks/easypost/",
        sign=lambda body: {"X-Hmac-Signature": fake_easypost.sign(body)},
        envelope=_event(
            id=st.just("evt_1"),
            object="Event",
            description=st.sampled_from(["tracker.updated", "tracker.created", "batch.created"]),
            created_at="2026-01-15T12:00:00Z",
            result=st.fixed_dictionaries(
                {
                    "id": st.just("trk_1"),
                    "object": st.just("Tracker"),
                    "tracking_code": st.just("EZ1000000001"),
                    "status": st.sampled_from(["in_transit", "delivered", "failure"]),
                    "updated_at": st.just("2026-01-15T12:00:00Z"),
                    "shipment_id": st.just("shp_1"),
                    "tracking_details": st.just([]),
                }
            ),
        ),
        settings={
            "EASYPOST_ENABLED": True,
            "EASYPOST_API_KEY": fake_easypost.API_KEY,
            "EASYPOST_WEBHOOK_SECRET": fake_easypost.WEBHOOK_SECRET,
            "EASYPOST_WEBHOOK_SECRET_PREVIOUS": "",
            "EASYPOST_API_BASE": "http://127.0.0.1:9/v2",
        },
    ),
    Target(
        name="email-resend",
        path="/webhooks/email/resend/",
        sign=_resend,
        envelope=_event(
            type=st.sampled_from(["email.delivered", "email.bounced", "email.opened", "x"]),
            created_at="2026-01-15T12:00:00.000Z",
            data=st.fixed_dictionaries(
                {
                    "email_id": st.just("4ef9a417-02e9-4d39-ad75-9611e0fcc33c"),
                    "created_at": st.just("2026-01-15T12:00:00.000000+00:00"),
                    "to": st.just(["ana@example.test"]),
                    "subject": st.just("Payment received"),
                }
            ),
        ),
        anymail={"RESEND_SIGNING_SECRET": fake_resend.SIGNING_SECRET},
    ),
    Target(
        name="zapi",
        path=f"/webhooks/zapi/{fake_zapi.WEBHOOK_TOKEN}/",
        sign=lambda body: {"Client-Token": fake_zapi.CLIENT_TOKEN},
        envelope=_event(
            type=st.sampled_from(["MessageStatusCallback", "ReceivedCallback", "x"]),
            status=st.sampled_from(["SENT", "RECEIVED", "READ", "PLAYED"]),
            ids=st.just(["3EB0C767D097B7C7C030"]),
            messageId=st.just("3EB0C767D097B7C7C031"),
            momment=st.just(1736942400000),
            phone=st.just("5511999999999"),
            instanceId=st.just(fake_zapi.INSTANCE_ID),
            isGroup=st.just(False),
        ),
        settings={
            "ZAPI_ENABLED": True,
            "ZAPI_INSTANCE_ID": fake_zapi.INSTANCE_ID,
            "ZAPI_INSTANCE_TOKEN": fake_zapi.INSTANCE_TOKEN,
            "ZAPI_CLIENT_TOKEN": fake_zapi.CLIENT_TOKEN,
            "ZAPI_WEBHOOK_TOKEN": fake_zapi.WEBHOOK_TOKEN,
            "ZAPI_WEBHOOK_TOKEN_PREVIOUS": "",
            "ZAPI_API_BASE": "http://127.0.0.1:9",
        },
    ),
    Target(
        name="hubspot",
        path="/webhooks/hubspot/",
        sign=_hubspot,
        envelope=st.lists(
            _event(
                eventId=st.integers(1, 10**9),
                subscriptionType=st.sampled_from(
                    ["contact.propertyChange", "deal.propertyChange", "contact.deletion"]
                ),
                objectId=st.just(501),
                propertyName=st.just("lifecyclestage"),
                propertyValue=st.just("customer"),
                occurredAt=st.just(1736942400000),
                portalId=st.just(int(fake_hubspot.PORTAL_ID)),
                appId=st.just(int(fake_hubspot.APP_ID)),
            ),
            min_size=1,
            max_size=3,
        ),
        settings={
            "HUBSPOT_ENABLED": True,
            "HUBSPOT_ACCESS_TOKEN": fake_hubspot.TOKEN,
            "HUBSPOT_CLIENT_SECRET": fake_hubspot.CLIENT_SECRET,
            "HUBSPOT_CLIENT_SECRET_PREVIOUS": "",
            "HUBSPOT_APP_ID": fake_hubspot.APP_ID,
            "HUBSPOT_PORTAL_ID": fake_hubspot.PORTAL_ID,
            "HUBSPOT_BASE_URL": "http://127.0.0.1:9",
        },
    ),
    Target(
        name="shopify",
        path="/webhooks/shopify/",
        sign=_shopify,
        envelope=_event(
            id=st.just(820982911946154508),
            admin_graphql_api_id=st.just("gid://shopify/Order/820982911946154508"),
            name=st.just("#1001"),
            email=st.just("ana@example.test"),
            currency=st.just("BRL"),
            total_price=st.sampled_from(["49.90", "0.00"]),
            created_at=st.just("2026-03-02T12:00:00-03:00"),
            updated_at=st.just("2026-03-02T12:00:05-03:00"),
            financial_status=st.sampled_from(["paid", "pending"]),
            line_items=st.just([{"id": 1, "title": "Caneca", "quantity": 1, "price": "49.90"}]),
            customer=st.just({"id": 1, "email": "ana@example.test", "first_name": "Ana"}),
        ),
        settings={
            "SHOPIFY_ENABLED": True,
            "SHOPIFY_SHOP": fake_shopify.SHOP,
            "SHOPIFY_ACCESS_TOKEN": fake_shopify.ACCESS_TOKEN,
            "SHOPIFY_WEBHOOK_SECRET": fake_shopify.WEBHOOK_SECRET,
            "SHOPIFY_WEBHOOK_SECRET_PREVIOUS": "",
            "SHOPIFY_API_VERSION": fake_shopify.API_VERSION,
            "SHOPIFY_API_BASE": "http://127.0.0.1:9",
            "SHOPIFY_NOTIFY_CUSTOMER": False,
        },
    ),
]
"""The JSON endpoints; Twilio posts a form and is fuzzed on its own."""

TWILIO_SETTINGS = {
    "TWILIO_ENABLED": True,
    "TWILIO_ACCOUNT_SID": fake_twilio.ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": fake_twilio.AUTH_TOKEN,
    "TWILIO_FROM": "+15005550006",
    "TWILIO_MESSAGING_SERVICE_SID": "",
    "TWILIO_STATUS_CALLBACK_URL": TWILIO_CALLBACK_URL,
    "TWILIO_API_BASE": "http://127.0.0.1:9",
}
