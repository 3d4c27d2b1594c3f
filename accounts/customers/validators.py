"""Validation and normalisation of customer contact data: E.164 phones, CPF and CNPJ."""

from __future__ import annotations

import re

import phonenumbers
from django.core.exceptions import ValidationError

DEFAULT_PHONE_REGION = "BR"


def normalize_phone(value: str, *, region: str = DEFAULT_PHONE_REGION) -> str:
    """Parse a phone as typed and return it in E.164 (``+5511987654321``) or raise."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"'{value}' is not a phone number.", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"'{value}' is not a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if not value:
        return
    if not re.fullmatch(r"\+[1-9]\d{6,14}", value) or normalize_phone(value) != value:
        raise ValidationError(f"'{value}' is not a phone in E.164 format.", code="invalid_phone")


_CPF_WEIGHTS = (range(10, 1, -1), range(11, 1, -1))
_CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


def _check_digit(values: list[int], weights: tuple[int, ...] | range) -> int:
    remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def is_valid_cpf(digits: str) -> bool:
    if not re.fullmatch(r"\d{11}", digits) or len(set(digits)) == 1:
        return False
    values = [int(c) for c in digits]
    first = _check_digit(values[:9], _CPF_WEIGHTS[0])
    second = _check_digit([*values[:9], first], _CPF_WEIGHTS[1])
    return values[9:] == [first, second]


def is_valid_cnpj(value: str) -> bool:
    """Numeric CNPJ and the alphanumeric CNPJ the Receita Federal issues from July 2026
    (letters count as their ASCII code minus 48; the two check digits stay numeric)."""
    if not re.fullmatch(r"[0-9A-Z]{12}\d{2}", value) or len(set(value)) == 1:
        return False
    values = [ord(c) - 48 for c in value]
    first = _check_digit(values[:12], _CNPJ_WEIGHTS[0])
    second = _check_digit([*values[:12], first], _CNPJ_WEIGHTS[1])
    return values[12:] == [first, second]


def normalize_tax_document(value: str) -> str:
    """Strip punctuation (``123.456.789-09`` -> ``12345678909``) and upper-case letters."""
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def tax_document_kind(value: str) -> str:
    """'cpf' or 'cnpj' for a valid normalised document; raises ValidationError otherwise."""
    if len(value) == 11 and is_valid_cpf(value):
        return "cpf"
    if len(value) == 14 and is_valid_cnpj(value):
        return "cnpj"
    raise ValidationError(f"'{value}' is not a valid CPF or CNPJ.", code="invalid_tax_document")


def validate_tax_document(value: str) -> None:
    if value:
        tax_document_kind(value)


def validate_time_zone(value: str) -> None:
    """An IANA time zone name zoneinfo knows (America/Sao_Paulo); blank is allowed (the
    default, CUSTOMER_DEFAULT_TIME_ZONE)."""
    if not value:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"'{value}' is not an IANA time zone name (e.g. America/Sao_Paulo).",
            code="invalid_time_zone",
        ) from None
