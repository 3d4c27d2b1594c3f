"""PII rules: nothing a person could be identified by leaves for any sink, whatever the type."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, get_origin

import pytest

from integrations.analytics.pii import TYPE_RULES, Rule, pii_hash, redact
from integrations.events import Payload, payload_fields, registered_event_types
from integrations.models import Delivery
from tests.integrations.analytics.conftest import HASH_KEY

pytestmark = pytest.mark.django_db

# Every string field gets this: a free text that names, addresses, mails and calls a person.
FREE_TEXT = (
    "Maria Aparecida Pereira, Rua Augusta 1500 ap 42, 01304-001 São Paulo, "
    "maria.pereira@example.org, +55 11 98765-4321, CPF 123.456.789-09"
)
# Fields that by their name carry a person's name, contact or words get a value with no e-mail
# or number in it, that only the field's rule (not a look at the value) can keep back.
BARE_NAME = "Maria Aparecida Pereira"
PERSONAL_WORDS = re.compile(
    r"name|recipient|address|email|phone|excerpt|body|note|detail|description|message|reason"
    r"|comment|location|approver|merged|cpf|cnpj|document|text|external|changes|error|why|url"
)
LEAKS = ["Maria", "Aparecida", "Pereira", "Augusta", "01304-001", "maria.pereira", "98765-4321",
         "123.456.789-09"]  # fmt: skip


def _builtin_keep(event_type: str, name: str) -> bool:
    """Fields the built-in rules keep on purpose: codes (a dispute's reason is the processor's
    code), never text a person wrote."""
    import fnmatch

    return any(
        fnmatch.fnmatchcase(event_type, pattern) and rules.get(name) is Rule.KEEP
        for pattern, rules in TYPE_RULES.items()
    )


def _hostile(event_type: str, payload: type[Payload]) -> dict[str, Any]:
    data = payload.example().as_data()
    for name, hint in payload_fields(payload).items():
        if get_origin(hint) is dict and isinstance(next(iter(data[name].values())), str):
            data[name] = {
                "email": "maria.pereira@example.org",
                "phone": "+55 11 98765-4321",
                "full_name": BARE_NAME,
                "comment": BARE_NAME,
                "plan": "pro",
                "anything": FREE_TEXT,
            }
        elif get_origin(hint) is list and isinstance(data[name][0], str):
            data[name] = [FREE_TEXT]
        elif isinstance(data[name], str) and name not in {"currency"}:
            if _builtin_keep(event_type, name):
                continue
            personal = PERSONAL_WORDS.search(name) and not name.endswith("_id")  # ids: not words
            data[name] = BARE_NAME if personal else FREE_TEXT
    return data


def test_no_pii_of_any_registered_event_type_reaches_any_sink(sinks, commit_event, customer):
    types = registered_event_types()
    for name, event_type in sorted(types.items()):
        commit_event(name, _hostile(name, event_type.payload), customer=customer)

    sent = sinks.everything_sent()
    assert len(sinks.segment.messages) == len(types)
    assert len(sinks.posthog.events) == len(types)
    assert len(sinks.warehouse_lines()) == len(types)
    assert not Delivery.objects.filter(
        subscriber__startswith="analytics.",
        status__in=[Delivery.Status.FAILED, Delivery.Status.DEAD],
    ).exists()
    # Nor the customer's own data (the fixture's), which no payload carries but labels do.
    for leak in [*LEAKS, customer.name, customer.email, customer.phone]:
        assert leak not in sent, leak
    # Not everything was dropped: amounts, currencies and codes still go.
    assert '"currency": "BRL"' in sent or '"currency":"BRL"' in sent


def test_the_hash_is_an_hmac_under_the_configured_key(settings):
    settings.ANALYTICS_PII_HASH_KEY = HASH_KEY
    expected = hmac.new(HASH_KEY.encode(), b"ana@example.test", hashlib.sha256).hexdigest()

    assert pii_hash(" Ana@Example.TEST ") == expected  # e-mails hash as one, whatever the case
    assert pii_hash("ana@example.test") != hashlib.sha256(b"ana@example.test").hexdigest()
    settings.ANALYTICS_PII_HASH_KEY = HASH_KEY + "-other"
    assert pii_hash("ana@example.test") != expected


def test_phone_numbers_hash_the_same_however_they_are_written(settings):
    settings.ANALYTICS_PII_HASH_KEY = HASH_KEY
    assert pii_hash("+55 (11) 98765-4321") == pii_hash("+5511987654321")


def test_default_rules_drop_hash_and_keep_by_field(settings):
    settings.ANALYTICS_PII_HASH_KEY = HASH_KEY
    properties, redaction = redact(
        "notification.sent",
        {
            "channel": "email",
            "recipient": "ana@example.test",
            "order": "SB-1",
            "template": "order_paid",
            "provider_message_id": "msg_123",
        },
    )

    assert properties == {
        "channel": "email",
        "recipient": pii_hash("ana@example.test"),
        "order": "SB-1",
        "template": "order_paid",
        "provider_message_id": "msg_123",
    }
    assert redaction.hashed == ["recipient"]
    properties, redaction = redact("note.added", {"excerpt": "Called Ana at home"})
    assert properties == {}
    assert redaction.dropped == ["excerpt"]


def test_per_type_overrides_from_settings_win(settings):
    settings.ANALYTICS_PII_HASH_KEY = HASH_KEY
    settings.ANALYTICS_PII_RULES = {
        "refund.*": {"reason": "keep"},
        "refund.requested": {"order": "hash"},
        "customer.created": {"*": "drop"},
        "payment.*": {"amount": "drop"},
    }

    refund, _ = redact("refund.requested", {"reason": "damaged", "order": "SB-1", "amount": 10})
    assert refund == {"reason": "damaged", "order": pii_hash("SB-1"), "amount": 10}
    assert redact("refund.approved", {"reason": "damaged"})[0] == {"reason": "damaged"}
    assert redact("customer.created", {"name": "Ana", "id_hint": "x"})[0] == {}
    assert redact("payment.succeeded", {"amount": 10, "currency": "BRL"})[0] == {"currency": "BRL"}
    # Without an override the reason is free text: dropped.
    assert redact("order.cancelled", {"reason": "Ana asked"})[0] == {}


def test_a_kept_field_holding_an_email_is_hashed_anyway(settings):
    settings.ANALYTICS_PII_HASH_KEY = HASH_KEY
    properties, redaction = redact("usage.tracked", {"plan": "pro", "invitee": "bo@example.test"})

    assert properties == {"plan": "pro", "invitee": pii_hash("bo@example.test")}
    assert redaction.hashed == ["invitee"]
