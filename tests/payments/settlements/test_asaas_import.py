"""Asaas financial transactions and transfers imported from the fake Asaas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from integrations.exceptions import ProviderRejected
from payments.providers.asaas.client import AsaasClient
from payments.settlements.models import (
    Payout,
    PayoutStatus,
    SettlementCursor,
    SettlementKind,
    SettlementLine,
)
from payments.settlements.workflows import asaas_day, asaas_day_start, settlements_import_asaas
from tests.support.fake_asaas import FakeAsaas

pytestmark = pytest.mark.django_db


class Crash(Exception):
    pass


def _receipts(fake: FakeAsaas, count: int) -> None:
    for i in range(count):
        fake.book("PAYMENT_RECEIVED", Decimal("100.00"), payment_id=f"pay_{i:06d}")


def test_sao_paulo_days_become_aware_utc_instants() -> None:
    assert asaas_day_start(date(2026, 3, 10)) == datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    # 01:00 UTC is still the evening before in São Paulo (UTC-3, no daylight saving since 2019).
    assert asaas_day(datetime(2026, 3, 10, 1, 0, tzinfo=UTC)) == date(2026, 3, 9)
    assert asaas_day(datetime(2026, 3, 10, 3, 0, tzinfo=UTC)) == date(2026, 3, 10)


def test_statement_lines_pages_and_a_reimport_changes_nothing(fake_asaas: FakeAsaas) -> None:
    fake_asaas.today = date(2026, 3, 10)
    _receipts(fake_asaas, 230)
    fake_asaas.book("PAYMENT_FEE", Decimal("-0.99"), payment_id="pay_000000")
    fake_asaas.book("PAYMENT_REFUND", Decimal("-30.00"), payment_id="pay_000001")
    first = settlements_import_asaas(
        kinds=("financial_transactions",), since=datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    )
    assert (first.lines_seen, first.lines_created, first.pages) == (232, 232, 3)
    calls = fake_asaas.requests_to("GET", "/financialTransactions")
    assert [(c.query["offset"], c.query["limit"]) for c in calls] == [
        (["0"], ["100"]),
        (["100"], ["100"]),
        (["200"], ["100"]),
    ]
    assert calls[0].query["startDate"] == ["2026-03-09"]  # the São Paulo day of 01:00 UTC
    line = SettlementLine.objects.get(provider_type="PAYMENT_RECEIVED", source_id="pay_000000")
    assert (line.kind, line.amount, line.fee, line.net, line.currency) == (
        SettlementKind.CHARGE,
        10_000,
        0,
        10_000,
        "BRL",
    )
    assert line.created_at == datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    assert line.raw["date"] == "2026-03-10" and line.raw["value"] == "100.0"
    fee = SettlementLine.objects.get(provider_type="PAYMENT_FEE")
    refund = SettlementLine.objects.get(provider_type="PAYMENT_REFUND")
    assert (fee.kind, fee.amount, refund.kind, refund.amount) == (
        SettlementKind.FEE,
        -99,
        SettlementKind.REFUND,
        -3_000,
    )
    before = list(SettlementLine.objects.order_by("id").values())

    again = settlements_import_asaas(kinds=("financial_transactions",))
    assert again.lines_created == 0
    assert list(SettlementLine.objects.order_by("id").values()) == before


def test_an_interrupted_import_resumes_at_its_offset(fake_asaas: FakeAsaas) -> None:
    _receipts(fake_asaas, 150)

    def crash(kind: str, done: int, total: int | None) -> None:
        assert total == 150
        if done == 100:
            raise Crash

    with pytest.raises(Crash):
        settlements_import_asaas(kinds=("financial_transactions",), progress=crash)
    assert (
        SettlementCursor.objects.get(provider="asaas", kind="financial_transactions").position
        == "100"
    )
    fake_asaas.seen.clear()
    result = settlements_import_asaas(kinds=("financial_transactions",))
    calls = fake_asaas.requests_to("GET", "/financialTransactions")
    assert [c.query["offset"] for c in calls] == [["100"]]
    assert (result.lines_created, SettlementLine.objects.count()) == (50, 150)


def test_transfers_are_payouts_and_their_lines_name_them(fake_asaas: FakeAsaas) -> None:
    fake_asaas.today = date(2026, 3, 11)
    _receipts(fake_asaas, 2)
    done = fake_asaas.transfer(Decimal("150.00"), fee=Decimal("2.00"))
    pending = fake_asaas.transfer(Decimal("40.00"), status="BANK_PROCESSING")
    result = settlements_import_asaas()
    assert (result.payouts_created, result.lines_created) == (2, 5)
    payout = Payout.objects.get(provider_payout_id=done["id"])
    assert (payout.amount, payout.currency, payout.status, payout.arrival_date) == (
        15_000,
        "BRL",
        PayoutStatus.PAID,
        date(2026, 3, 11),
    )
    assert payout.created_at == datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    assert Payout.objects.get(provider_payout_id=pending["id"]).status == PayoutStatus.IN_TRANSIT
    lines = SettlementLine.objects.filter(payout_id=done["id"]).order_by("amount")
    assert [(line.kind, line.amount) for line in lines] == [
        (SettlementKind.TRANSFER, -15_000),
        (SettlementKind.FEE, -200),
    ]
    fake_asaas.transfers[pending["id"]]["status"] = "DONE"
    fake_asaas.transfers[pending["id"]]["effectiveDate"] = "2026-03-12"
    again = settlements_import_asaas()
    assert (again.payouts_created, again.lines_created) == (0, 0)
    moved = Payout.objects.get(provider_payout_id=pending["id"])
    assert (moved.status, moved.arrival_date) == (PayoutStatus.PAID, date(2026, 3, 12))


def test_paying_and_refunding_a_charge_books_its_statement_lines(fake_asaas: FakeAsaas) -> None:
    fake_asaas.payments["pay_x"] = {
        "id": "pay_x",
        "value": Decimal("50.00"),
        "status": "PENDING",
        "deleted": False,
        "refunds": [],
    }
    fake_asaas.pay("pay_x")
    fake_asaas.refund(fake_asaas.payments["pay_x"], {"value": Decimal("20.00")})
    settlements_import_asaas(kinds=("financial_transactions",))
    assert sorted(
        SettlementLine.objects.filter(source_id="pay_x").values_list("kind", "amount")
    ) == sorted(
        [(SettlementKind.CHARGE, 5_000), (SettlementKind.FEE, -99), (SettlementKind.REFUND, -2_000)]
    )


def test_the_fake_refuses_what_asaas_refuses(fake_asaas: FakeAsaas) -> None:
    with pytest.raises(ProviderRejected):
        AsaasClient().list_financial_transactions(limit=101)
    with pytest.raises(ProviderRejected):
        AsaasClient().list_transfers(limit=0)
