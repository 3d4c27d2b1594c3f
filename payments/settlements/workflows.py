"""Settlement imports: page through a provider's balance lines and payouts and store them once.

Each page is stored in its own transaction (outbound calls are refused inside one), then the
import cursor moves; a run that stops (a crash, an outage) continues where it was on the next call
and, since lines are unique by provider and line id, anything fetched twice changes nothing.

* Stripe (official SDK through the shared outbound client): ``GET /v1/balance_transactions``
  newest first with ``created[gte]`` and ``starting_after``; ``GET /v1/payouts`` the same, and for
  each payout ``GET /v1/balance_transactions?payout=po_...`` links its lines to it, whether the
  lines were imported before (they get the payout id) or not (they are stored with it).
* Asaas: ``GET /v3/financialTransactions`` (``startDate``/``finishDate`` São Paulo calendar days,
  ``offset``/``limit``, ``hasMore``) and ``GET /v3/transfers`` (``dateCreated[ge]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from payments.providers.asaas.client import ASAAS_TZ, AsaasClient, parse_date, parse_datetime
from payments.providers.asaas.client import CURRENCY as ASAAS_CURRENCY
from payments.providers.asaas.client import to_minor as asaas_minor
from payments.providers.stripe.client import StripeGateway
from payments.settlements.models import Payout, PayoutStatus, SettlementKind, SettlementLine
from payments.settlements.services import (
    payouts_store,
    settlement_cursor_advance,
    settlement_cursor_finish,
    settlement_cursor_get,
    settlement_cursor_start,
    settlement_lines_store,
)

PAGE_SIZE = 100  # Stripe's and Asaas's largest page
# A finished run's next run starts a little before the newest object it saw: objects booked in
# the same second are fetched again (and ignored); payouts further back, as their status moves
# from pending/in_transit to paid for days after they are created.
LINE_OVERLAP = timedelta(hours=1)
PAYOUT_OVERLAP = timedelta(days=10)

Progress = Callable[[str, int, int | None], None]
"""progress(kind, done, total or None when the provider does not say)."""


@dataclass
class ImportResult:
    lines_seen: int = 0
    lines_created: int = 0
    lines_linked: int = 0
    payouts_seen: int = 0
    payouts_created: int = 0
    pages: int = 0
    kinds: list[str] = field(default_factory=list)


def _no_progress(kind: str, done: int, total: int | None) -> None:
    return None


def _utc(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)


def _start(
    cursor_high_water: datetime | None, since: datetime | None, overlap: timedelta
) -> datetime | None:
    if since is not None:
        return since
    return cursor_high_water - overlap if cursor_high_water else None


# Stripe --------------------------------------------------------------------------------------

STRIPE_KINDS = {
    "charge": SettlementKind.CHARGE,
    "payment": SettlementKind.CHARGE,
    "refund": SettlementKind.REFUND,
    "payment_refund": SettlementKind.REFUND,
    "payment_failure_refund": SettlementKind.REFUND,
    "refund_failure": SettlementKind.REFUND,
    "stripe_fee": SettlementKind.FEE,
    "stripe_fx_fee": SettlementKind.FEE,
    "application_fee": SettlementKind.FEE,
    "tax_fee": SettlementKind.FEE,
    "payout": SettlementKind.PAYOUT,
    "payout_cancel": SettlementKind.PAYOUT,
    "payout_failure": SettlementKind.PAYOUT,
    "transfer": SettlementKind.TRANSFER,
    "transfer_cancel": SettlementKind.TRANSFER,
    "transfer_failure": SettlementKind.TRANSFER,
    "transfer_refund": SettlementKind.TRANSFER,
    "adjustment": SettlementKind.ADJUSTMENT,
}
# Disputes are balance transactions of type "adjustment"; Stripe's reporting category says which.
STRIPE_CATEGORIES = {
    "dispute": SettlementKind.CHARGEBACK,
    "dispute_reversal": SettlementKind.CHARGEBACK_REVERSAL,
}
STRIPE_PAYOUT_STATUS = {
    "paid": PayoutStatus.PAID,
    "pending": PayoutStatus.PENDING,
    "in_transit": PayoutStatus.IN_TRANSIT,
    "canceled": PayoutStatus.CANCELED,
    "failed": PayoutStatus.FAILED,
}


def stripe_line(txn: dict[str, Any], *, payout_id: str = "") -> SettlementLine:
    """A Stripe balance transaction as a settlement line (amount, fee, net as Stripe gives
    them, in minor units of the settlement currency)."""
    source = txn.get("source")
    if isinstance(source, dict):
        source = source.get("id")
    kind = STRIPE_CATEGORIES.get(str(txn.get("reporting_category") or "")) or STRIPE_KINDS.get(
        str(txn.get("type") or ""), SettlementKind.OTHER
    )
    created = _utc(txn.get("created"))
    assert created is not None
    return SettlementLine(
        provider="stripe",
        provider_line_id=str(txn["id"]),
        kind=kind,
        provider_type=str(txn.get("type") or ""),
        amount=int(txn["amount"]),
        fee=int(txn.get("fee") or 0),
        net=int(txn["net"]),
        currency=str(txn["currency"]).upper(),
        source_id=str(source or ""),
        payout_id=payout_id or (str(source) if kind == SettlementKind.PAYOUT and source else ""),
        description=str(txn.get("description") or "")[:500],
        created_at=created,
        available_at=_utc(txn.get("available_on")),
        raw=txn,
    )


def stripe_payout(payout: dict[str, Any]) -> Payout:
    arrival = _utc(payout.get("arrival_date"))
    created = _utc(payout.get("created"))
    assert created is not None
    return Payout(
        provider="stripe",
        provider_payout_id=str(payout["id"]),
        amount=int(payout["amount"]),
        currency=str(payout["currency"]).upper(),
        arrival_date=arrival.date() if arrival else None,
        status=STRIPE_PAYOUT_STATUS.get(str(payout.get("status")), PayoutStatus.PENDING),
        provider_status=str(payout.get("status") or ""),
        created_at=created,
        raw=payout,
    )


def settlements_import_stripe(
    *,
    since: datetime | None = None,
    kinds: tuple[str, ...] = ("balance_transactions", "payouts"),
    page_size: int = PAGE_SIZE,
    progress: Progress = _no_progress,
) -> ImportResult:
    """Import Stripe balance transactions and payouts (with each payout's lines)."""
    gateway = StripeGateway.from_settings()
    result = ImportResult(kinds=list(kinds))
    for kind in kinds:
        cursor = settlement_cursor_get("stripe", kind)
        overlap = PAYOUT_OVERLAP if kind == "payouts" else LINE_OVERLAP
        settlement_cursor_start(cursor, since=_start(cursor.high_water, since, overlap))
        created_gte = int(cursor.run_since.timestamp()) if cursor.run_since else None
        done = 0
        while True:
            lister = (
                gateway.list_payouts if kind == "payouts" else gateway.list_balance_transactions
            )
            page = lister(limit=page_size, starting_after=cursor.position, created_gte=created_gte)
            result.pages += 1
            if kind == "payouts":
                for item in page.items:
                    _stripe_payout_lines(gateway, str(item["id"]), page_size, result)
                stored = payouts_store([stripe_payout(p) for p in page.items])
                result.payouts_seen += len(page.items)
                result.payouts_created += stored.created
            else:
                stored = settlement_lines_store([stripe_line(t) for t in page.items])
                result.lines_seen += len(page.items)
                result.lines_created += stored.created
            done += len(page.items)
            settlement_cursor_advance(
                cursor,
                position=str(page.items[-1]["id"]) if page.items else cursor.position,
                seen=[_utc(i["created"]) for i in page.items],  # type: ignore[misc]
            )
            progress(kind, done, None)
            if not page.has_more or not page.items:
                break
        settlement_cursor_finish(cursor)
    return result


def _stripe_payout_lines(
    gateway: StripeGateway, payout_id: str, page_size: int, result: ImportResult
) -> None:
    """``GET /v1/balance_transactions?payout=po_...``, every page: the lines paid out in it."""
    after = ""
    while True:
        page = gateway.list_balance_transactions(
            limit=page_size, starting_after=after, payout=payout_id
        )
        result.pages += 1
        stored = settlement_lines_store(
            [stripe_line(t, payout_id=payout_id) for t in page.items], payout_id=payout_id
        )
        result.lines_seen += len(page.items)
        result.lines_created += stored.created
        result.lines_linked += stored.linked
        if not page.has_more or not page.items:
            return
        after = str(page.items[-1]["id"])


# Asaas ---------------------------------------------------------------------------------------

ASAAS_KINDS = {
    "PAYMENT_RECEIVED": SettlementKind.CHARGE,
    "TRANSFER": SettlementKind.TRANSFER,
    "CHARGEBACK": SettlementKind.CHARGEBACK,
    "CHARGEBACK_REVERSAL": SettlementKind.CHARGEBACK_REVERSAL,
}
ASAAS_TRANSFER_STATUS = {
    "PENDING": PayoutStatus.PENDING,
    "BANK_PROCESSING": PayoutStatus.IN_TRANSIT,
    "DONE": PayoutStatus.PAID,
    "CANCELLED": PayoutStatus.CANCELED,
    "FAILED": PayoutStatus.FAILED,
}


def asaas_day_start(day: date) -> datetime:
    """An Asaas calendar day (São Paulo) -> the aware UTC instant it begins (03:00 UTC)."""
    return datetime.combine(day, time.min, tzinfo=ASAAS_TZ).astimezone(UTC)


def asaas_day(moment: datetime) -> date:
    """The São Paulo calendar day an instant falls on (what Asaas's date filters take)."""
    return moment.astimezone(ASAAS_TZ).date()


def asaas_kind(type_: str) -> SettlementKind:
    if type_ in ASAAS_KINDS:
        return ASAAS_KINDS[type_]
    if "FEE" in type_:
        return SettlementKind.FEE
    if "SPLIT" in type_:
        return SettlementKind.SPLIT
    if "REFUND" in type_ or "REVERSAL" in type_:
        return SettlementKind.REFUND
    if "TRANSFER" in type_:
        return SettlementKind.TRANSFER
    return SettlementKind.ADJUSTMENT


def asaas_line(item: dict[str, Any]) -> SettlementLine:
    """An Asaas financial transaction as a settlement line: ``value`` is signed (a debit is
    negative) and already net (Asaas books its fees as separate ``*_FEE`` lines), so fee is 0.
    ``date`` is a São Paulo calendar day: ``created_at`` is the instant that day begins, in UTC."""
    type_ = str(item.get("type") or "")
    kind = asaas_kind(type_)
    day = parse_date(item.get("date"))
    if day is None:
        raise AsaasLineError(f"Asaas financial transaction {item.get('id')!r} has no date.")
    value = asaas_minor(item["value"])
    source = item.get("paymentId") or item.get("transferId") or item.get("splitId") or ""
    return SettlementLine(
        provider="asaas",
        provider_line_id=str(item["id"]),
        kind=kind,
        provider_type=type_,
        amount=value,
        fee=0,
        net=value,
        currency=ASAAS_CURRENCY,
        source_id=str(source),
        payout_id=str(item.get("transferId") or ""),
        description=str(item.get("description") or "")[:500],
        created_at=asaas_day_start(day),
        raw=_jsonable(item),
    )


def asaas_payout(item: dict[str, Any]) -> Payout:
    """An Asaas transfer as a payout of ``value``, arriving on ``effectiveDate`` once done, else
    on ``scheduleDate``. Asaas books a transfer's fee as its own ``TRANSFER_FEE`` statement line
    (UNCONFIRMED against the live API whether the fee is ever taken from ``value`` instead: the
    raw copy keeps ``netValue`` and ``transferFee``)."""
    created = parse_datetime(item.get("dateCreated"))
    if created is None:
        day = parse_date(item.get("dateCreated"))
        created = asaas_day_start(day) if day else None
    if created is None:
        raise AsaasLineError(f"Asaas transfer {item.get('id')!r} has no dateCreated.")
    return Payout(
        provider="asaas",
        provider_payout_id=str(item["id"]),
        amount=asaas_minor(item["value"]),
        currency=ASAAS_CURRENCY,
        arrival_date=parse_date(item.get("effectiveDate")) or parse_date(item.get("scheduleDate")),
        status=ASAAS_TRANSFER_STATUS.get(str(item.get("status")), PayoutStatus.PENDING),
        provider_status=str(item.get("status") or ""),
        created_at=created,
        raw=_jsonable(item),
    )


class AsaasLineError(Exception):
    """An Asaas list item without the fields a settlement line needs."""


def _jsonable(item: dict[str, Any]) -> dict[str, Any]:
    # Asaas answers are decoded with Decimal; the raw copy keeps them as exact strings.
    from decimal import Decimal

    def fix(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return {k: fix(v) for k, v in item.items()}


def settlements_import_asaas(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: tuple[str, ...] = ("financial_transactions", "transfers"),
    page_size: int = PAGE_SIZE,
    progress: Progress = _no_progress,
) -> ImportResult:
    """Import Asaas financial transactions and transfers, resuming at the stored offset."""
    client = AsaasClient()
    result = ImportResult(kinds=list(kinds))
    for kind in kinds:
        cursor = settlement_cursor_get("asaas", kind)
        overlap = PAYOUT_OVERLAP if kind == "transfers" else timedelta(days=1)
        settlement_cursor_start(cursor, since=_start(cursor.high_water, since, overlap))
        start = asaas_day(cursor.run_since) if cursor.run_since else None
        offset = int(cursor.position or 0)
        while True:
            if kind == "transfers":
                answer = client.list_transfers(offset=offset, limit=page_size, created_from=start)
            else:
                answer = client.list_financial_transactions(
                    offset=offset,
                    limit=page_size,
                    start_date=start,
                    finish_date=asaas_day(until) if until else None,
                )
            result.pages += 1
            items = answer.items
            if kind == "transfers":
                payouts = [asaas_payout(i) for i in items]
                stored = payouts_store(payouts)
                result.payouts_seen += len(items)
                result.payouts_created += stored.created
                seen = [p.created_at for p in payouts]
            else:
                lines = [asaas_line(i) for i in items]
                stored = settlement_lines_store(lines)
                result.lines_seen += len(items)
                result.lines_created += stored.created
                seen = [line.created_at for line in lines]
            offset += len(items)
            settlement_cursor_advance(cursor, position=str(offset), seen=seen)
            progress(kind, offset, answer.total)
            if not answer.has_more or not items:
                break
        settlement_cursor_finish(cursor)
    return result


IMPORTERS: dict[str, Callable[..., ImportResult]] = {
    "stripe": settlements_import_stripe,
    "asaas": settlements_import_asaas,
}
ENABLED_SETTING = {"stripe": "STRIPE_ENABLED", "asaas": "ASAAS_ENABLED"}


def settlements_import(
    provider: str, *, since: datetime | None = None, progress: Progress = _no_progress
) -> ImportResult:
    """Import one provider's settlement lines and payouts (``stripe`` or ``asaas``)."""
    return IMPORTERS[provider](since=since, progress=progress)
