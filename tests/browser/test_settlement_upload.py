"""Finance uploads a bank statement with a saved CSV column mapping by clicking in Chromium
(issue 15 item 2): a bad file names its rows and stores nothing; a good one lands on the
settlement lines, in major units."""

from __future__ import annotations

from pathlib import Path

from django.urls import reverse

from payments.settlements.models import CsvColumnMapping, SettlementLine
from tests.browser.conftest import Browser
from tests.factories import make_staff

GOOD = "Data;Histórico;Valor\n10/03/2026;PIX RECEBIDO pay_001;1.234,56\n10/03/2026;TARIFA;-2,50\n"
BAD = "Data;Histórico;Valor\n10/03/2026;ok;1,00\n2026-03-10;data errada;1,00\n11/03/2026;x;dez\n"


def _mapping() -> CsvColumnMapping:
    return CsvColumnMapping.objects.create(
        name="Itaú extrato",
        provider="bank-itau",
        delimiter=";",
        date_column="Data",
        date_format="%d/%m/%Y",
        amount_column="Valor",
        fixed_currency="BRL",
        reference_column="Histórico",
        decimal_separator=",",
    )


def test_finance_uploads_a_statement_by_clicking(browser: Browser, tmp_path: Path) -> None:
    mapping = _mapping()
    finance = make_staff("finance", role="finance")
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(BAD, encoding="utf-8")
    good.write_text(GOOD, encoding="utf-8")
    browser.sign_in(finance)

    browser.visit(reverse("admin:payments_settlementline_changelist"))
    browser.shot("no settlement lines yet")
    assert "No settlement lines yet." in browser.text()
    browser.click("#upload-csv-statement")
    assert browser.path == reverse("admin:payments_csvcolumnmapping_changelist")
    browser.click("a.upload-statement")
    assert browser.path == reverse("admin:payments_csvcolumnmapping_upload", args=[mapping.pk])

    browser.find("#id_statement").send_keys(str(bad))
    browser.click('#statement-upload-form input[type="submit"]')
    browser.shot("refused rows")
    errors = browser.text("#statement-errors")
    assert "Nothing was imported." in errors
    assert "Row 3: date '2026-03-10' does not match %d/%m/%Y." in errors
    assert "Row 4: amount:" in errors
    assert "Row 2" not in errors
    assert SettlementLine.objects.count() == 0

    browser.find("#id_statement").send_keys(str(good))
    browser.click('#statement-upload-form input[type="submit"]')
    browser.shot("imported")
    assert browser.driver.current_url.endswith(
        reverse("admin:payments_settlementline_changelist") + "?provider=bank-itau"
    )
    assert any("2 new settlement lines imported" in m for m in browser.messages())
    table = browser.text("#result_list")
    assert "R$ 1.234,56" in table and "-R$ 2,50" in table
    assert SettlementLine.objects.filter(provider="bank-itau").count() == 2
    assert browser.csp_violations() == []


def test_support_has_no_upload_and_no_settlement_lines(browser: Browser) -> None:
    mapping = _mapping()
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(reverse("admin:payments_csvcolumnmapping_upload", args=[mapping.pk]))
    assert "You may not open this page" in browser.text()
    browser.visit(reverse("admin:index"))
    assert not browser.has(
        'a[href="{}"]'.format(reverse("admin:payments_settlementline_changelist"))
    )
