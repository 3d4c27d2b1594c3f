"""The Asaas HTTP API (``/v3``) through the shared ``ProviderClient``, and the money edge.

Every call goes through ``integrations.outbound.client.ProviderClient`` (timeouts, retries,
breaker, ProviderCall ledger, secrets scrubbed). Bodies are encoded here so that amounts go out
as exact JSON decimals (``100.00``), and answers are decoded with ``Decimal`` for every
non-integer number: no float ever holds money.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.db import models
from urllib3 import encode_multipart_formdata

from integrations.exceptions import ProviderUnavailable
from integrations.outbound.client import DEFAULT_SECRET_HEADERS, ProviderClient

PROVIDER = "asaas"
CURRENCY = "BRL"
CENTS = Decimal("0.01")
SECRET_HEADERS = (*DEFAULT_SECRET_HEADERS, "access_token")
# Asaas writes local times without an offset ("2024-06-12 16:45:03"); we read them as Brasília
# time (UNCONFIRMED in the contracts, but the account's time zone is Brazil's).
ASAAS_TZ = ZoneInfo("America/Sao_Paulo")


class AsaasMoneyError(ValueError):
    """An Asaas amount that is not a whole number of centavos (or not a number at all)."""


def to_decimal(minor: int) -> Decimal:
    """Integer centavos -> the BRL decimal Asaas takes (``1999`` -> ``Decimal("19.99")``)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"Minor units must be an int, not {type(minor).__name__}.")
    return (Decimal(minor) * CENTS).quantize(CENTS)


def to_minor(value: Any) -> int:
    """An Asaas decimal (``Decimal``, int or numeric string) -> integer centavos, exactly.

    Raises AsaasMoneyError for a float (we never decode into one), a non-number or an amount
    with a fraction of a centavo."""
    if isinstance(value, bool | float):
        raise AsaasMoneyError(f"Refusing a float/bool amount {value!r}.")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise AsaasMoneyError(f"Not an amount: {value!r}.") from None
    if not amount.is_finite():
        raise AsaasMoneyError(f"Not an amount: {value!r}.")
    minor = amount * 100
    if minor != minor.to_integral_value():
        raise AsaasMoneyError(f"{value!r} is not a whole number of centavos.")
    return int(minor)


def parse_datetime(value: Any) -> datetime | None:
    """An Asaas ``YYYY-MM-DD HH:MM:SS`` (Brasília) or ISO time -> aware UTC; None if absent or
    unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ASAAS_TZ)
    return parsed.astimezone(UTC)


def parse_date(value: Any) -> date | None:
    """An Asaas ``YYYY-MM-DD``; None if absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def dumps(value: Any) -> bytes:
    """JSON with ``Decimal`` written as an exact number literal (``json`` cannot do that)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("Cannot encode a non-finite Decimal.")
        return format(value, "f").encode()
    if isinstance(value, Mapping):
        items = (json.dumps(str(key)).encode() + b":" + dumps(item) for key, item in value.items())
        return b"{" + b",".join(items) + b"}"
    if isinstance(value, list | tuple):
        return b"[" + b",".join(dumps(item) for item in value) + b"]"
    if isinstance(value, float):
        raise TypeError("Floats are not sent to Asaas; use Decimal.")
    return json.dumps(value).encode()


def loads(response: requests.Response) -> Any:
    """The answer's JSON with every non-integer number as ``Decimal``."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ProviderUnavailable(
            f"{PROVIDER}: the answer is not JSON (HTTP {response.status_code}).",
            provider=PROVIDER,
            status_code=response.status_code,
        ) from None


class AsaasClient:
    """One method per Asaas endpoint we use; each returns decoded JSON (dicts stay in here).

    Settings (``ASAAS_API_BASE``, ``ASAAS_API_KEY``) are read when the client is built, so build
    one per unit of work. ``max_attempts=1`` gives a client that never retries on its own (used
    for the calls Asaas cannot deduplicate: the adapter checks before each retry instead).
    Every method raises ``ProviderRejected`` (4xx, never retried), ``ProviderUnavailable`` /
    ``CircuitOpen`` (retry later) and ``RuntimeError`` inside ``transaction.atomic``.
    """

    def __init__(
        self, *, session: requests.Session | None = None, max_attempts: int | None = None
    ) -> None:
        api_key: str = settings.ASAAS_API_KEY
        self.http = ProviderClient(
            PROVIDER,
            settings.ASAAS_API_BASE,
            default_headers={
                "access_token": api_key,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            secret_headers=SECRET_HEADERS,
            secret_values=(api_key,) if api_key else (),
            session=session,
            max_attempts=max_attempts,
        )

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        subject: models.Model | None = None,
    ) -> Any:
        response = self.http.request(
            operation,
            method,
            path,
            data=dumps(body) if body is not None else None,
            params=params,
            idempotency_key=idempotency_key,
            subject=subject,
        )
        return loads(response)

    # Customers -----------------------------------------------------------------------------

    def find_customers(self, *, email: str = "", cpf_cnpj: str = "") -> list[dict[str, Any]]:
        """``GET /customers?cpfCnpj=...|email=...``: the matching customers (maybe none)."""
        params = {"cpfCnpj": cpf_cnpj} if cpf_cnpj else {"email": email}
        answer = self._call("customer.list", "GET", "customers", params={**params, "limit": 10})
        return _data_list(answer)

    def create_customer(
        self, *, body: Mapping[str, Any], idempotency_key: str, subject: models.Model | None
    ) -> dict[str, Any]:
        """``POST /customers``: a new ``cus_...``."""
        return _object(
            self._call(
                "customer.create",
                "POST",
                "customers",
                body=body,
                idempotency_key=idempotency_key,
                subject=subject,
            )
        )

    # Payments ------------------------------------------------------------------------------

    def find_payments(self, *, external_reference: str) -> list[dict[str, Any]]:
        """``GET /payments?externalReference=...``: our payment as Asaas knows it, if it does."""
        answer = self._call(
            "payment.list",
            "GET",
            "payments",
            params={"externalReference": external_reference, "limit": 10},
        )
        return _data_list(answer)

    def create_payment(
        self, *, body: Mapping[str, Any], idempotency_key: str, subject: models.Model | None
    ) -> dict[str, Any]:
        """``POST /payments``."""
        return _object(
            self._call(
                "payment.create",
                "POST",
                "payments",
                body=body,
                idempotency_key=idempotency_key,
                subject=subject,
            )
        )

    def get_payment(
        self, payment_id: str, *, subject: models.Model | None = None
    ) -> dict[str, Any]:
        """``GET /payments/{id}``."""
        return _object(
            self._call("payment.get", "GET", f"payments/{_segment(payment_id)}", subject=subject)
        )

    def delete_payment(
        self, payment_id: str, *, idempotency_key: str, subject: models.Model | None = None
    ) -> dict[str, Any]:
        """``DELETE /payments/{id}``: cancels a charge awaiting payment or overdue (Asaas refuses
        others with a 400); answers ``{"deleted": true, "id": ...}``."""
        return _object(
            self._call(
                "payment.delete",
                "DELETE",
                f"payments/{_segment(payment_id)}",
                idempotency_key=idempotency_key,
                subject=subject,
            )
        )

    def pix_qr_code(
        self, payment_id: str, *, subject: models.Model | None = None
    ) -> dict[str, Any]:
        """``GET /payments/{id}/pixQrCode``: ``payload``, ``encodedImage``, ``expirationDate``."""
        return _object(
            self._call(
                "payment.pix_qr_code",
                "GET",
                f"payments/{_segment(payment_id)}/pixQrCode",
                subject=subject,
            )
        )

    def refund(
        self,
        payment_id: str,
        *,
        body: Mapping[str, Any],
        idempotency_key: str,
        subject: models.Model | None = None,
    ) -> dict[str, Any]:
        """``POST /payments/{id}/refund`` (``value`` omitted = the full amount)."""
        return _object(
            self._call(
                "payment.refund",
                "POST",
                f"payments/{_segment(payment_id)}/refund",
                body=body,
                idempotency_key=idempotency_key,
                subject=subject,
            )
        )

    # Chargebacks ---------------------------------------------------------------------------

    def chargeback_dispute(
        self,
        payment_id: str,
        *,
        files: Sequence[tuple[str, bytes, str]],
        idempotency_key: str,
        subject: models.Model | None = None,
    ) -> dict[str, Any]:
        """``POST /chargebacks/{id}/dispute`` (docs "Criar disputa de chargeback"), multipart
        with one ``files`` part per document, (name, content, content type), at most 11. The
        id is the charge's (``pay_...``): Asaas keeps one chargeback per charge. Asaas refuses
        (ProviderRejected) a chargeback that no longer takes a dispute."""
        body, content_type = encode_multipart_formdata(
            [("files", (name, content, kind)) for name, content, kind in files]
        )
        response = self.http.request(
            "chargeback.dispute",
            "POST",
            f"chargebacks/{_segment(payment_id)}/dispute",
            data=body,
            headers={"Content-Type": content_type},
            idempotency_key=idempotency_key,
            subject=subject,
        )
        return _object(loads(response))

    # Statement -----------------------------------------------------------------------------

    def list_financial_transactions(
        self,
        *,
        offset: int = 0,
        limit: int = 100,
        start_date: date | None = None,
        finish_date: date | None = None,
    ) -> AsaasPage:
        """``GET /financialTransactions``: the account statement, one page (``limit`` at most
        100); the dates are São Paulo calendar days, both ends included."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if start_date:
            params["startDate"] = start_date.isoformat()
        if finish_date:
            params["finishDate"] = finish_date.isoformat()
        return _page(
            self._call("financial_transaction.list", "GET", "financialTransactions", params=params)
        )

    def list_transfers(
        self, *, offset: int = 0, limit: int = 100, created_from: date | None = None
    ) -> AsaasPage:
        """``GET /transfers``: transfers out of the account (to the bank: the payouts)."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if created_from:
            params["dateCreated[ge]"] = created_from.isoformat()
        return _page(self._call("transfer.list", "GET", "transfers", params=params))


@dataclass(frozen=True)
class AsaasPage:
    """One page of an Asaas list: its items, ``hasMore`` and ``totalCount`` (None if absent)."""

    items: list[dict[str, Any]]
    has_more: bool
    total: int | None


def _page(answer: Any) -> AsaasPage:
    total = _object(answer).get("totalCount")
    return AsaasPage(
        items=_data_list(answer),
        has_more=bool(_object(answer).get("hasMore")),
        total=total if isinstance(total, int) else None,
    )


def _segment(provider_id: str) -> str:
    """A provider id safe to put in a path: Asaas ids are ``pay_`` + alphanumerics."""
    if not provider_id or not all(c.isalnum() or c in "_-" for c in provider_id):
        raise ValueError(f"Not an Asaas id: {provider_id!r}.")
    return provider_id


def _object(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ProviderUnavailable(f"{PROVIDER}: expected a JSON object.", provider=PROVIDER)
    return answer


def _data_list(answer: Any) -> list[dict[str, Any]]:
    data = _object(answer).get("data")
    if not isinstance(data, list):
        raise ProviderUnavailable(f"{PROVIDER}: expected a list in data.", provider=PROVIDER)
    return [item for item in data if isinstance(item, dict)]
