"""Ops set a shipping table rate by hand in Chromium (issue 12 item 5: table rates editable in
the admin), typing the price in reais: "23,50" is R$ 23,50 (2,350 centavos), a third decimal is
refused with the reason and nothing is saved."""

from __future__ import annotations

from django.urls import reverse

from shipping.models import TableRate
from tests.browser.conftest import Browser
from tests.factories import make_staff


def _fill(browser: Browser, price: str) -> None:
    browser.type("#id_carrier", "sandbox")
    browser.type("#id_service", "economy")
    browser.type("#id_postal_prefix", "01310")
    browser.type("#id_weight_up_to_grams", "1000")
    browser.find('#id_currency option[value="BRL"]').click()
    browser.type("#id_amount", price)
    browser.type("#id_days", "5")


def test_ops_types_a_table_rate_in_reais(browser: Browser) -> None:
    browser.sign_in(make_staff("ops", role="ops"))
    browser.visit(reverse("admin:shipping_tablerate_add"))

    _fill(browser, "23,505")
    browser.click('input[name="_save"]')
    browser.shot("three decimals refused")
    assert "decimal" in browser.text(".field-amount .errorlist").lower()
    assert not TableRate.objects.exists()

    browser.type("#id_amount", "23,50")
    browser.click('input[name="_save"]')
    browser.shot("saved")

    rate = TableRate.objects.get()
    assert (rate.amount, rate.currency, rate.edited_by_staff) == (2350, "BRL", True)
    assert "R$ 23,50" in browser.text("#result_list")
