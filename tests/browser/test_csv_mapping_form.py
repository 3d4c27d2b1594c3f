"""Finance sets up a bank's CSV column mapping by clicking in Chromium (issue 15 item 2): the add
form refuses a mapping without any currency with a plain sentence, saves a complete one, and the
new mapping's "Upload a statement" link opens its upload page."""

from __future__ import annotations

from django.urls import reverse
from selenium.webdriver.support.ui import Select

from payments.settlements.models import CsvColumnMapping
from tests.browser.conftest import Browser
from tests.factories import make_staff


def test_finance_adds_a_mapping_by_clicking_and_uploads_with_it(browser: Browser) -> None:
    browser.sign_in(make_staff("finance", role="finance"))
    browser.visit(reverse("admin:payments_csvcolumnmapping_changelist"))
    browser.click("a.addlink")
    assert browser.path == reverse("admin:payments_csvcolumnmapping_add")

    browser.type("#id_name", "Bradesco extrato")
    browser.type("#id_provider", "bank-bradesco")
    browser.find("#id_delimiter").clear()
    browser.type("#id_delimiter", ";")
    browser.type("#id_date_column", "Data")
    browser.find("#id_date_format").clear()
    browser.type("#id_date_format", "%d/%m/%Y")
    browser.type("#id_amount_column", "Valor")
    browser.type("#id_reference_column", "Histórico")
    Select(browser.find("#id_decimal_separator")).select_by_value(",")
    browser.click('input[name="_save"]')
    browser.shot("no currency refused")
    assert "Please correct the error below." in browser.text(".errornote")
    assert "Name the currency column, or choose the fixed currency of every row." in browser.text(
        ".errorlist"
    )
    assert not CsvColumnMapping.objects.exists()

    Select(browser.find("#id_fixed_currency")).select_by_value("BRL")
    browser.click('input[name="_save"]')
    browser.shot("mapping saved")
    assert browser.path == reverse("admin:payments_csvcolumnmapping_changelist")
    mapping = CsvColumnMapping.objects.get(name="Bradesco extrato")
    assert (mapping.delimiter, mapping.date_format, mapping.decimal_separator) == (
        ";",
        "%d/%m/%Y",
        ",",
    )
    assert mapping.fixed_currency == "BRL"

    browser.click("a.upload-statement")
    assert browser.path == reverse("admin:payments_csvcolumnmapping_upload", args=[mapping.pk])
    assert browser.has("#statement-upload-form")
    assert browser.csp_violations() == []
