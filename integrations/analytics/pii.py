"""PII rules: what of an event's properties may leave for an analytics sink.

Each property gets one rule, ``drop`` (left out), ``hash`` (HMAC-SHA256 under
``ANALYTICS_PII_HASH_KEY``: stable, so a hashed e-mail still joins across events and sinks, and
not reversible by hashing a dictionary of e-mails without the key) or ``keep``. The rule of a
property is, first that applies:

1. ``ANALYTICS_PII_RULES[<type or pattern>][<field>]`` (``"*"`` for every field of the type);
2. the built-in type rules (``TYPE_RULES``: codes, not text, that happen to share a PII-looking
   name, such as a dispute's ``reason``);
3. the field's name: any ``_``-separated word of it in ``HASH_WORDS`` or ``DROP_WORDS``;
4. otherwise ``keep``, and then the value itself is looked at: a string that contains an e-mail
   or is a phone number, CPF or CNPJ is hashed anyway. A ``keep`` from the settings (1) is
   trusted as it is.

Nested values (a usage event's properties) follow the same rules per key; list items are looked
at as values.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings


class Rule(StrEnum):
    DROP = "drop"
    HASH = "hash"
    KEEP = "keep"


HASH_WORDS = frozenset(
    {"email", "mail", "phone", "mobile", "msisdn", "recipient", "approver", "user", "username"}
)
"""Identifiers of a person worth joining on, never in clear: hashed."""
DROP_WORDS = frozenset(
    {
        # names
        "name", "names", "merged", "firstname", "lastname", "fullname",
        # tax documents
        "cpf", "cnpj", "tax", "document", "ssn", "vat", "rg",
        # addresses and places
        "address", "street", "line1", "line2", "zip", "zipcode", "postal", "postcode", "city",
        "location", "neighborhood", "district", "ip", "latitude", "longitude",
        # free text written by people (notes, messages, reasons, provider messages)
        "body", "text", "message", "note", "notes", "excerpt", "detail", "details",
        "description", "comment", "comments", "reason", "why", "error", "refusal", "changes",
        "subject",
        # links and secrets (payment links, QR codes carry tokens and the payer's data)
        "url", "uri", "link", "token", "secret", "password", "pix", "boleto", "qr", "image",
    }
)  # fmt: skip
"""Words whose values are never sent."""
EXACT_RULES = {
    "external_id": Rule.HASH,  # an external id may be an e-mail in the other system
    "provider_message_id": Rule.KEEP,  # the provider's id of a message, not its text
    "merged_ids": Rule.KEEP,  # our customer ids
}
"""Fields ruled by their whole name, before their words."""

TYPE_RULES: dict[str, dict[str, Rule]] = {
    # Provider and Switchboard codes, not text (the labels are fixed texts of the codes).
    "dispute.*": {"reason": Rule.KEEP},
    "shipment.*": {"reason": Rule.KEEP, "reason_label": Rule.KEEP, "status_label": Rule.KEEP},
    "notification.*": {"reason_label": Rule.KEEP},
}

_EMAIL = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d{8,15}")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_CPF = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
_CNPJ = re.compile(r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}|\d{14}")


@dataclass
class Redaction:
    """What the rules did: dotted paths of the fields hashed and dropped."""

    hashed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def pii_hash(value: Any) -> str:
    """HMAC-SHA256 of the value's text (e-mails lower-cased, phones reduced to digits), hex."""
    text = str(value).strip()
    if _EMAIL.fullmatch(text):
        text = text.lower()
    elif _PHONE.fullmatch(_PHONE_PUNCTUATION.sub("", text)):
        text = _PHONE_PUNCTUATION.sub("", text)
    key = settings.ANALYTICS_PII_HASH_KEY.encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def looks_like_pii(value: str) -> bool:
    """Whether a string holds an e-mail or is a phone number, CPF or CNPJ."""
    text = value.strip()
    if _EMAIL.search(text):
        return True
    compact = _PHONE_PUNCTUATION.sub("", text)
    return bool(_PHONE.fullmatch(compact) or _CPF.fullmatch(text) or _CNPJ.fullmatch(text))


def _configured(event_type: str) -> dict[str, str]:
    found: dict[str, str] = {}
    rules: Mapping[str, Mapping[str, str]] = settings.ANALYTICS_PII_RULES or {}
    # Exact types win over patterns; among patterns the longer (more specific) wins.
    for pattern in sorted(rules, key=lambda p: (p == event_type, len(p))):
        if pattern == event_type or fnmatch.fnmatchcase(event_type, pattern):
            found.update(rules[pattern])
    return found


def _builtin(event_type: str) -> dict[str, Rule]:
    found: dict[str, Rule] = {}
    for pattern, rules in TYPE_RULES.items():
        if fnmatch.fnmatchcase(event_type, pattern):
            found.update(rules)
    return found


def rule_by_name(name: str) -> Rule | None:
    """The rule a field's name alone implies, or None when its name says nothing."""
    lowered = name.lower()
    if lowered in EXACT_RULES:
        return EXACT_RULES[lowered]
    words = set(re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()))
    if words & DROP_WORDS:
        return Rule.DROP
    if words & HASH_WORDS:
        return Rule.HASH
    return None


def redact(
    event_type: str, properties: Mapping[str, Any], redaction: Redaction | None = None
) -> tuple[dict[str, Any], Redaction]:
    """The properties as they may leave, and what was hashed and dropped. Never raises for a
    value: anything that is not JSON-like is dropped."""
    redaction = redaction or Redaction()
    configured = _configured(event_type)
    builtin = _builtin(event_type)
    return _redact_mapping(properties, "", configured, builtin, redaction), redaction


def _redact_mapping(
    data: Mapping[str, Any],
    prefix: str,
    configured: Mapping[str, str],
    builtin: Mapping[str, Rule],
    redaction: Redaction,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        explicit = configured.get(path, configured.get("*"))
        rule = (
            Rule(explicit)
            if explicit is not None and explicit in Rule._value2member_map_
            else builtin.get(path) or rule_by_name(str(key))
        )
        if rule is Rule.DROP:
            redaction.dropped.append(path)
            continue
        if rule is Rule.HASH:
            if value in (None, "", [], {}):
                out[key] = value
            else:
                out[key] = pii_hash(value)
                redaction.hashed.append(path)
            continue
        trusted = explicit == Rule.KEEP
        if isinstance(value, Mapping):
            out[key] = _redact_mapping(value, f"{path}.", configured, builtin, redaction)
        elif isinstance(value, list):
            out[key] = [_scan(item, path, trusted, redaction) for item in value]
        elif value is None or isinstance(value, bool | int | float | str):
            out[key] = _scan(value, path, trusted, redaction)
        else:
            redaction.dropped.append(path)
    return out


def _scan(value: Any, path: str, trusted: bool, redaction: Redaction) -> Any:
    if trusted or not isinstance(value, str) or not looks_like_pii(value):
        if isinstance(value, dict | list):  # nested deeper than the payload types allow
            redaction.dropped.append(path)
            return None
        return value
    redaction.hashed.append(path)
    return pii_hash(value)
