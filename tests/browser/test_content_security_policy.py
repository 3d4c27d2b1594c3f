"""The admin works in Chromium under the Content-Security-Policy (issue 16 item 3).

Every registered model's changelist and add page, the change pages of a customer, an order and a
payment, the index, the API docs and the login page load with no CSP violation in Chromium's
console; the admin's own scripts run (the select-all box of a changelist); and an inline script
put into a page is refused and reported, which is what the console check would catch.
(The ``browser`` fixture also fails any browser test on a violation.)
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.browser.conftest import Browser
from tests.factories import make_customer, make_order, make_paid_payment, make_staff


def _admin_pages() -> list[str]:
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    return pages


def _visit_clean(browser: Browser, path: str) -> None:
    browser.visit(path)
    violations = browser.csp_violations()
    assert not violations, f"{path}: {violations}"


@pytest.mark.slow
def test_admin_pages_load_with_no_csp_violation(browser: Browser) -> None:
    payment = make_paid_payment()
    order = payment.order
    browser.sign_in(make_staff("csp-admin", is_superuser=True))

    pages = [
        *_admin_pages(),
        reverse("admin:accounts_customer_change", args=[order.customer_id]),
        reverse("admin:orders_order_change", args=[order.pk]),
        reverse("admin:payments_payment_change", args=[payment.pk]),
    ]
    assert len(pages) > 80
    for path in pages:
        _visit_clean(browser, path)
        assert browser.has("#content, #content-main"), path
    browser.shot("last admin page")

    # Swagger UI starts from a script file (the split view), so it renders under script-src 'self'.
    _visit_clean(browser, reverse("api-docs"))
    browser.driver.implicitly_wait(10)
    try:
        assert browser.find(".swagger-ui .info .title").text.startswith("Switchboard API")
    finally:
        browser.driver.implicitly_wait(0)
    assert not browser.csp_violations()
    browser.shot("api docs")

    browser.sign_out()
    _visit_clean(browser, reverse("admin:login"))
    assert browser.has("#login-form")


def test_admin_scripts_run_under_the_csp(browser: Browser) -> None:
    customer = make_customer()
    for _ in range(3):
        make_order(customer=customer)
    browser.sign_in(make_staff("csp-ops", is_superuser=True))
    browser.visit(reverse("admin:orders_order_changelist"))
    rows = browser.find_all("input.action-select")
    assert len(rows) == 3
    assert not any(box.is_selected() for box in rows)

    browser.find("#action-toggle").click()  # admin/js/actions.js, a static file

    assert all(box.is_selected() for box in browser.find_all("input.action-select"))
    assert "3 of 3 selected" in browser.text(".action-counter")
    browser.shot("all selected")


def test_an_inline_script_is_refused_and_reported(browser: Browser) -> None:
    browser.sign_in(make_staff("csp-probe", is_superuser=True))
    browser.visit(reverse("admin:index"))
    assert browser.csp_violations() == []

    browser.driver.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.inlineRan = true;';"
        "document.body.appendChild(s);"
    )

    assert browser.driver.execute_script("return window.inlineRan === true") is False
    violations = browser.csp_violations()
    assert len(violations) == 1, violations
    assert "script-src 'self'" in violations[0]
