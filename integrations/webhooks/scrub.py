"""Scrubbing stored webhook deliveries into fixtures a repository may hold.

A ``Pseudonymizer`` replaces personal data with fakes derived from a key (HMAC-SHA256): the same
original always maps to the same fake within one export, so an e-mail that appears in three
deliveries, or twice in one body, is the same fake e-mail everywhere and cross-references still
line up. Provider object ids (``pi_...``, ``pay_...``, ``evt_...``) are not personal and are kept.

Each provider's ``BodyScrubber`` knows its body format (JSON, or form-encoded for Twilio) and
which headers to keep: only those a parser or a signer needs (signature headers are never stored
in the inbox; the replay signs again with a test secret). Any configured secret value found in a
body or a kept header is replaced too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fabio", "Gabriela", "Heitor", "Iara")
LAST_NAMES = ("Almeida", "Barbosa", "Cardoso", "Duarte", "Esteves", "Ferraz", "Gomes", "Hora")
STREETS = ("Rua das Flores", "Avenida Central", "Rua do Porto", "Travessa Azul", "Rua Nova")
CITIES = ("Cidade Exemplo", "Vila Teste", "Porto Fictício", "Serra Modelo")

# Keys (lower-cased, without "_" or "-") whose string value is personal data, by kind.
KEY_KINDS: dict[str, str] = {
    **dict.fromkeys(("email", "receiptemail", "emailaddress", "customeremail"), "email"),
    **dict.fromkeys(
        ("phone", "mobilephone", "phonenumber", "cellphone", "from", "to", "waid"), "phone"
    ),
    **dict.fromkeys(
        (
            "name",
            "firstname",
            "lastname",
            "fullname",
            "customername",
            "holdername",
            "recipientname",
            "profilename",
            "sendername",
            "chatname",
        ),
        "name",
    ),
    **dict.fromkeys(("cpf", "cnpj", "cpfcnpj", "document", "taxid", "taxdocument"), "cpf"),
    **dict.fromkeys(
        (
            "line1",
            "line2",
            "address",
            "street",
            "addressnumber",
            "complement",
            "neighborhood",
            "district",
            "province",
        ),
        "address",
    ),
    "city": "city",
    **dict.fromkeys(("postalcode", "zip", "zipcode", "cep"), "digits"),
    **dict.fromkeys(
        (
            "token",
            "accesstoken",
            "authtoken",
            "clientsecret",
            "secret",
            "password",
            "apikey",
            "cardtoken",
            "creditcardtoken",
        ),
        "token",
    ),
    **dict.fromkeys(("ip", "ipaddress", "remoteip", "clientip"), "ip"),
}
# Free text that may quote personal data: known originals and patterns are replaced inside it.
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CPF_RE = re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b")
PHONE_RE = re.compile(r"\+\d{10,15}\b")
SECRET_SETTING_RE = re.compile(r"(SECRET|TOKEN|PASSWORD|API_KEY|_KEY$)")
MIN_SECRET_LENGTH = 8
SECRET_PLACEHOLDER = "redacted-secret"  # noqa: S105 - the placeholder, not a secret


def _normal_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


@dataclass
class Pseudonymizer:
    """Deterministic fakes keyed by ``key``: ``fake(kind, original)`` returns the same fake for
    the same original (and remembers every original it replaced, for ``originals``)."""

    key: bytes
    replaced: dict[str, str] = field(default_factory=dict)
    _secrets: list[str] | None = None

    @property
    def secrets(self) -> list[str]:
        """The configured secrets, read once per export."""
        if self._secrets is None:
            self._secrets = configured_secrets()
        return self._secrets

    def _digest(self, kind: str, original: str) -> bytes:
        return hmac.new(self.key, f"{kind}\x00{original}".encode(), hashlib.sha256).digest()

    def fake(self, kind: str, original: str) -> str:
        if not original.strip() or original in self.replaced.values():
            return original  # blank, or already one of our fakes
        if original in self.replaced:
            return self.replaced[original]
        if kind != "email" and EMAIL_RE.fullmatch(original.strip()):
            kind = "email"  # an address under a key like "to" or "name"
        digest = self._digest(kind, original.strip().lower())
        maker: Callable[[str, bytes], str] = getattr(self, f"_fake_{kind}", self._fake_token)
        fake = maker(original, digest)
        self.replaced[original] = fake
        return fake

    @property
    def originals(self) -> list[str]:
        return list(self.replaced)

    @staticmethod
    def _digits(digest: bytes, count: int) -> list[int]:
        number = int.from_bytes(digest, "big")
        out = []
        for _ in range(count):
            number, digit = divmod(number, 10)
            out.append(digit)
        return out

    def _fake_email(self, original: str, digest: bytes) -> str:
        return f"person-{digest.hex()[:10]}@example.com"

    def _fake_name(self, original: str, digest: bytes) -> str:
        first = FIRST_NAMES[digest[0] % len(FIRST_NAMES)]
        last = LAST_NAMES[digest[1] % len(LAST_NAMES)]
        return f"{first} {last} {digest.hex()[:4].upper()}"

    def _fake_address(self, original: str, digest: bytes) -> str:
        if original.isdigit():
            return self._fake_digits(original, digest)
        return f"{STREETS[digest[0] % len(STREETS)]} {int.from_bytes(digest[1:3], 'big') % 2000}"

    def _fake_city(self, original: str, digest: bytes) -> str:
        return f"{CITIES[digest[0] % len(CITIES)]} {digest.hex()[:3].upper()}"

    def _fake_digits(self, original: str, digest: bytes) -> str:
        """Every digit replaced, the rest (dashes, dots, a ``+`` or ``whatsapp:``) kept."""
        digits = iter(self._digits(digest, sum(c.isdigit() for c in original)))
        return "".join(str(next(digits)) if c.isdigit() else c for c in original)

    def _fake_phone(self, original: str, digest: bytes) -> str:
        """The country code's two digits kept (parsers look at them), the rest faked."""
        total = sum(c.isdigit() for c in original)
        if total < 8:
            return self._fake_token(original, digest)
        country = [int(c) for c in original if c.isdigit()][:2]
        digits = iter([*country, *self._digits(digest, total)])
        return "".join(str(next(digits)) if c.isdigit() else c for c in original)

    def _fake_cpf(self, original: str, digest: bytes) -> str:
        """A valid CPF (or CNPJ for 14 digits), formatted like the original."""
        count = sum(c.isdigit() for c in original)
        base = self._digits(digest, 12 if count == 14 else 9)
        base[0] = base[0] or 1
        if count == 14:
            weights = (
                [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2],
                [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2],
            )
            for w in weights:
                rest = sum(d * k for d, k in zip(base, w, strict=True)) % 11
                base.append(0 if rest < 2 else 11 - rest)
        elif count == 11:
            for size in (9, 10):
                total = sum(d * (size + 1 - i) for i, d in enumerate(base))
                base.append((total * 10 % 11) % 10)
        else:
            return self._fake_digits(original, digest)
        digits = iter(base)
        return "".join(str(next(digits)) if c.isdigit() else c for c in original)

    def _fake_token(self, original: str, digest: bytes) -> str:
        return f"redacted_{digest.hex()[:24]}"

    def _fake_ip(self, original: str, digest: bytes) -> str:
        return f"192.0.2.{digest[0] % 254 + 1}"  # TEST-NET-1 (RFC 5737)


def configured_secrets() -> list[str]:
    """Every secret-looking setting's value (strings and lists of strings), longest first."""
    found: set[str] = set()
    for name in dir(settings):
        if not name.isupper() or not SECRET_SETTING_RE.search(name):
            continue
        value = getattr(settings, name, None)
        values = value if isinstance(value, list | tuple) else [value]
        found.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)
    return sorted(found, key=len, reverse=True)


@dataclass(frozen=True)
class BodyScrubber:
    """How one provider's deliveries are scrubbed: the body format and the headers kept."""

    body_format: str = "json"  # "json" or "form"
    keep_headers: frozenset[str] = frozenset({"content-type"})
    extra_key_kinds: Mapping[str, str] = field(default_factory=dict)

    def kind_of(self, key: str) -> str | None:
        normal = _normal_key(key)
        return self.extra_key_kinds.get(normal) or KEY_KINDS.get(normal)

    def scrub_body(self, body: str, pseudo: Pseudonymizer) -> str:
        if self.body_format == "form":
            pairs = parse_qsl(body, keep_blank_values=True)
            scrubbed = [(k, self._value(k, v, pseudo)) for k, v in pairs]
            text = urlencode(scrubbed)
        else:
            try:
                data = json.loads(body)
            except json.JSONDecodeError:
                return _free_text(body, pseudo)
            text = json.dumps(self._walk(data, pseudo, None), ensure_ascii=False)
        return replace_known(text, pseudo)

    def scrub_headers(self, headers: Mapping[str, str], pseudo: Pseudonymizer) -> dict[str, str]:
        return {
            name.lower(): replace_known(value, pseudo)
            for name, value in headers.items()
            if name.lower() in self.keep_headers
        }

    def _walk(self, item: Any, pseudo: Pseudonymizer, key: str | None) -> Any:
        if isinstance(item, dict):
            return {k: self._walk(v, pseudo, k) for k, v in item.items()}
        if isinstance(item, list):
            return [self._walk(v, pseudo, key) for v in item]
        if isinstance(item, str) and key is not None:
            return self._value(key, item, pseudo)
        return item

    def _value(self, key: str, value: str, pseudo: Pseudonymizer) -> str:
        kind = self.kind_of(key)
        if kind is not None:
            return pseudo.fake(kind, value)
        return _free_text(value, pseudo)


def _free_text(text: str, pseudo: Pseudonymizer) -> str:
    text = EMAIL_RE.sub(lambda m: pseudo.fake("email", m.group(0)), text)
    text = CPF_RE.sub(lambda m: pseudo.fake("cpf", m.group(0)), text)
    return PHONE_RE.sub(lambda m: pseudo.fake("phone", m.group(0)), text)


def replace_known(text: str, pseudo: Pseudonymizer) -> str:
    """Every original already replaced anywhere in the export, and every configured secret,
    replaced wherever it still appears (a name quoted in a description, a token in a URL)."""
    for original in sorted(pseudo.originals, key=len, reverse=True):
        if len(original) >= 4 and original in text:
            text = text.replace(original, pseudo.replaced[original])
    for secret in pseudo.secrets:
        text = text.replace(secret, SECRET_PLACEHOLDER)
    return text


STANDARD_WEBHOOKS = BodyScrubber(keep_headers=frozenset({"content-type", "webhook-id"}))
SCRUBBERS: dict[str, BodyScrubber] = {
    "stripe": BodyScrubber(),
    "asaas": BodyScrubber(),
    "twilio": BodyScrubber(
        body_format="form",
        extra_key_kinds={"body": "token", "mediaurl0": "token"},
    ),
    "zapi": BodyScrubber(extra_key_kinds={"participantphone": "phone", "senderphoto": "token"}),
    "shopify": BodyScrubber(
        keep_headers=frozenset(
            {"content-type", "x-shopify-topic", "x-shopify-webhook-id", "x-shopify-shop-domain"}
        )
    ),
    "melhor_envio": BodyScrubber(),
    "melhor-envio": BodyScrubber(),
    "easypost": BodyScrubber(),
    "hubspot": BodyScrubber(),
}


def scrubber_for(provider: str) -> BodyScrubber:
    """The provider's scrubber; Standard Webhooks endpoints (``sandbox-*``, ``email-*`` and
    others) keep ``webhook-id``, which their signature covers."""
    return SCRUBBERS.get(provider, STANDARD_WEBHOOKS)


def originals_in(texts: Iterable[str], originals: Iterable[str]) -> list[str]:
    """The originals still present in any of ``texts`` (what a scan of an export looks for)."""
    joined = "\n".join(texts)
    return [o for o in originals if o and o in joined]
