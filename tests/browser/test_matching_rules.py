"""Finance edits a matching rule's tolerance in the admin by clicking in Chromium (issue 15 item
3): the rules are listed in sequence order, the tolerance is typed in major units and stored in
minor units, and the matches the engine made are read-only with their items."""

from __future__ import annotations

from importlib import import_module

from django.urls import reverse

from payments.models import Payment
from payments.settlements.engine import settlements_match
from payments.settlements.models import MatchingRule, SettlementMatch
from tests.browser.conftest import Browser
from tests.factories import PaymentFactory, SettlementLineFactory, make_staff

RULE = "Same amount within 2 days"


def seed_rules() -> None:
    """The data migration's rules (a browser test's database is emptied after each test)."""
    seeded = import_module("payments.migrations.0017_seed_matching_rules").RULES
    for rule in seeded:
        MatchingRule.objects.get_or_create(name=rule["name"], defaults=rule)


def test_finance_edits_a_rules_tolerance_by_clicking(browser: Browser) -> None:
    seed_rules()
    finance = make_staff("finance", role="finance")
    browser.sign_in(finance)

    browser.visit(reverse("admin:payments_matchingrule_changelist"))
    browser.shot("matching rules")
    rows = [row.text for row in browser.find_all("#result_list tbody tr")]
    assert [row.split()[0] for row in rows] == ["10", "20", "30"]  # sequence order
    browser.click_element(next(a for a in browser.find_all("#result_list a") if a.text == RULE))
    assert browser.find("#id_amount_tolerance").get_attribute("value") == "0,00"

    browser.type("#id_amount_tolerance", "0,05")
    browser.click('input[name="_save"]')
    browser.shot("saved")

    assert browser.path == reverse("admin:payments_matchingrule_changelist")
    assert MatchingRule.objects.get(name=RULE).amount_tolerance == 5
    row = next(r.text for r in browser.find_all("#result_list tbody tr") if RULE in r.text)
    assert "0,05" in row
    assert browser.csp_violations() == []


def test_a_tolerance_with_too_many_decimals_is_refused_on_the_page(browser: Browser) -> None:
    seed_rules()
    rule = MatchingRule.objects.get(name=RULE)
    browser.sign_in(make_staff("finance", role="finance"))
    browser.visit(reverse("admin:payments_matchingrule_change", args=[rule.pk]))

    browser.type("#id_amount_tolerance", "0,055")
    browser.click('input[name="_save"]')

    assert browser.has(".errorlist")
    rule.refresh_from_db()
    assert rule.amount_tolerance == 0


def test_finance_reads_a_match_with_its_items_and_cannot_change_it(browser: Browser) -> None:
    payment = PaymentFactory.create(succeeded=True)
    Payment.objects.filter(pk=payment.pk).update(provider="stripe", provider_payment_id="pi_b1")
    SettlementLineFactory.create(
        provider_line_id="txn_browser",
        source_id="ch_b1",
        raw={"source": {"id": "ch_b1", "payment_intent": "pi_b1"}},
    )
    settlements_match()
    match = SettlementMatch.objects.get()
    browser.sign_in(make_staff("finance", role="finance"))

    browser.visit(reverse("admin:payments_settlementmatch_changelist"))
    browser.click("#result_list tbody tr th a")
    browser.shot("a match")

    assert browser.path == reverse("admin:payments_settlementmatch_change", args=[match.pk])
    items = browser.text(".inline-group")
    assert "Line txn_browser (Charge)" in items and "Payment pi_b1" in items
    assert "R$ 100,00" in items
    assert not browser.has('input[name="_save"]')
