"""Ops edit a notification rule in Chromium (issue 13 item 6): the change page previews the texts
in each language, rendered server-side from the built example payload or a real event picked in
the list; a template error is shown on the field and in the preview, and nothing is saved until
the texts are right. Support reads the rule without a save button."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import DomainEvent
from notifications.models import NotificationRule
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_paid_payment, make_staff


def _choose(browser: Browser, css: str, value: str) -> None:
    from selenium.webdriver.support.select import Select

    Select(browser.find(css)).select_by_value(value)


def test_ops_preview_a_rule_see_a_template_error_and_save_the_fix(browser: Browser) -> None:
    order = make_paid_payment(customer=make_customer(name="Ana")).order
    event = DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))
    rule = NotificationRule.objects.get(template="order_paid")
    original = rule.body_en
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(reverse("admin:notifications_notificationrule_changelist"))
    browser.click(f'#result_list a[href$="/{rule.pk}/change/"]')
    browser.shot("the rule with its preview")
    preview = browser.text("#rule-preview-result")
    assert "Built example payload of order.paid" in preview
    assert "Recebemos seu pagamento do pedido ex-number" in preview
    assert "Payment received for ex-number" in preview

    _choose(browser, "#id__example", str(event.pk))
    browser.click("#rule-preview-button")
    browser.shot("previewed with the real event")
    preview = browser.text("#rule-preview-result")
    assert f"Event #{event.pk}" in preview
    assert f"Recebemos seu pagamento do pedido {order.number}" in preview
    assert f"We received your payment for {order.number}." in preview

    browser.type("#id_body_en", "Paid {{ numbre }}, thanks!")
    browser.click("#rule-preview-button")
    browser.shot("a template error")
    problems = browser.text("#rule-preview-problems")
    assert "Unknown variable 'numbre'" in problems
    assert "Unknown variable 'numbre'" in browser.text(".field-body_en .errorlist")
    rule.refresh_from_db()
    assert rule.body_en == original  # a preview saves nothing

    browser.click("input[name=_save]")
    assert "Unknown variable 'numbre'" in browser.text(".field-body_en .errorlist")
    rule.refresh_from_db()
    assert rule.body_en == original  # refused on save too

    browser.type("#id_body_en", "Paid {{ number }}, thanks {{ customer_name }}!")
    _choose(browser, "#id__example", str(event.pk))
    browser.click("#rule-preview-button")
    assert f"Paid {order.number}, thanks Ana!" in browser.text("#rule-preview-result")
    browser.click("input[name=_save]")
    browser.shot("saved")
    assert any("was changed successfully" in m for m in browser.messages())
    rule.refresh_from_db()
    assert rule.body_en == "Paid {{ number }}, thanks {{ customer_name }}!"


def test_support_reads_a_rule_without_saving(browser: Browser) -> None:
    rule = NotificationRule.objects.get(template="payment_pix")
    browser.sign_in(make_staff("support", role="support"))

    browser.visit(reverse("admin:notifications_notificationrule_change", args=[rule.pk]))
    browser.shot("read-only")

    assert not browser.has("input[name=_save]")
    assert not browser.has("#rule-preview-button")  # a preview is a POST of the form
    assert "Código Pix copia e cola: 00020101" in browser.text("#rule-preview-result")
