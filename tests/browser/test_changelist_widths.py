"""The status columns of the webhook inbox and the refund queue are visible at 1366 px (issue 11
item 5): with demo-like rows whose other values are long (event types, ids, customer names,
requesters), every status cell lies fully inside the window in Chromium at 1366x768 with nothing
scrolled sideways: inside the viewport (less its scrollbar), inside the visible part of the
results box (which scrolls its table sideways when the columns after the status do not fit), and
the page itself does not scroll sideways."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from integrations.models import WebhookEvent
from payments.models import Refund, RefundReason, RefundStatus
from payments.services import refund_request
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_paid_payment, make_staff

WIDTH, HEIGHT = 1366, 768
S = WebhookEvent.Status
LONG_EVENT_TYPES = [
    "checkout.session.async_payment_succeeded",
    "customer.subscription.pending_update_expired",
    "payment_intent.requires_action.three_d_secure_authentication_pending",
    "order.tracking.status_changed.out_for_delivery.second_attempt_scheduled",
    "charge.dispute.funds_reinstated",
    "PAYMENT_RECEIVED_IN_CASH_UNDONE",
]
LONG_NAMES = [
    "Maria Aparecida dos Santos Oliveira de Albuquerque e Vasconcelos",
    "Comércio de Materiais de Construção e Ferragens Irmãos Rodrigues Ltda",
    "João Pedro Wolfgang Amadeus Bittencourt-Cavalcanti Filho",
]


@pytest.fixture
def small_window(browser: Browser) -> Iterator[Browser]:
    size = browser.driver.get_window_size()
    browser.driver.set_window_size(WIDTH, HEIGHT)
    yield browser
    browser.driver.set_window_size(size["width"], size["height"])


def _measure(browser: Browser, column: str) -> dict[str, Any]:
    """Where the column's cells (and header) are, against the window and the results box."""
    measured: dict[str, Any] = browser.driver.execute_script(
        """
        const column = arguments[0];
        const results = document.querySelector('#changelist .results');
        const box = results.getBoundingClientRect();
        const rect = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.right]; };
        return {
            inner: window.innerWidth,
            viewport: document.documentElement.clientWidth,
            page: document.documentElement.scrollWidth,
            resultsScrolled: results.scrollLeft,
            resultsRight: box.right,
            header: [...document.querySelectorAll('#result_list thead th.column-' + column)].map(rect),
            cells: [...document.querySelectorAll('#result_list tbody .field-' + column)].map(rect),
        };
        """,
        column,
    )
    return measured


def _assert_column_visible(browser: Browser, column: str, rows: int) -> None:
    m = _measure(browser, column)
    assert m["inner"] == WIDTH
    assert len(m["cells"]) == rows
    assert len(m["header"]) == 1
    assert m["resultsScrolled"] == 0
    for left, right in [*m["header"], *m["cells"]]:
        assert 0 <= left < right <= m["viewport"] <= m["inner"], m
        assert right <= m["resultsRight"], m  # not hidden behind the results box's edge
    assert m["page"] <= m["viewport"], "the page scrolls sideways"


def _inbox_rows() -> int:
    now = timezone.now()
    statuses = [S.RECEIVED, S.PROCESSING, S.PROCESSED, S.IGNORED, S.FAILED, S.DEAD]
    for n, event_type in enumerate(LONG_EVENT_TYPES * 2):
        status = statuses[n % len(statuses)]
        WebhookEvent.objects.create(
            provider=["melhor-envio", "stripe", "asaas", "sandbox-payments"][n % 4],
            event_id=f"evt_1PqR7sLkZ9xW{n:02d}aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            event_type=event_type,
            body="{}",
            received_at=now - timedelta(minutes=n),
            status=status,
            attempts=5 if status == S.DEAD else n % 3,
            next_attempt_at=now + timedelta(minutes=5) if status == S.FAILED else None,
            object_id=f"pi_3PqR7sLkZ9xW{n:02d}MelhorEnvioTrackingCodeBR1234567890ABCDEFGH",
            last_error="KeyError: 'data'" if status in (S.FAILED, S.DEAD) else "",
        )
    return len(LONG_EVENT_TYPES) * 2


def _refund_rows(finance: User) -> int:
    requesters = [
        make_staff("maria.aparecida.santos.oliveira.atendimento", role="support"),
        make_staff("joao.pedro.bittencourt.cavalcanti.financeiro", role="finance"),
    ]
    reasons = [r for r, _ in RefundReason.choices]
    statuses = [s for s, _ in RefundStatus.choices]
    for n in range(len(statuses) * 2):
        customer = make_customer(name=LONG_NAMES[n % len(LONG_NAMES)])
        refund = refund_request(
            payment=make_paid_payment(customer=customer, amount=123_456_789 + n),
            requested_by=requesters[n % 2],
            reason=reasons[n % len(reasons)],
            note="The customer says the parcel arrived crushed and the product does not turn on.",
        )
        if n >= 2:  # the first two stay requested; the others take every status once or more
            Refund.objects.filter(pk=refund.pk).update(status=statuses[n % len(statuses)])
    return len(statuses) * 2


def test_inbox_status_column_is_visible_at_1366px(small_window: Browser):
    browser = small_window
    rows = _inbox_rows()
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(reverse("admin:integrations_webhookevent_changelist"))
    browser.shot("webhook inbox at 1366x768")

    _assert_column_visible(browser, "status", rows)
    # The shortened values keep the whole value in a tooltip.
    cell = browser.find("#result_list tbody .field-event_type_cut [title]")
    assert cell.get_attribute("title") in LONG_EVENT_TYPES


def test_refund_queue_status_column_is_visible_at_1366px(small_window: Browser):
    browser = small_window
    finance = make_staff("finance", role="finance")
    rows = _refund_rows(finance)
    browser.sign_in(finance)

    browser.visit(reverse("admin:payments_refund_changelist"))
    browser.shot("refund queue at 1366x768")
    pending = Refund.objects.filter(status=RefundStatus.REQUESTED).count()
    _assert_column_visible(browser, "status", pending)

    browser.visit(reverse("admin:payments_refund_changelist") + "?status=all")
    browser.shot("all refunds at 1366x768")
    _assert_column_visible(browser, "status", rows)
    titles = {c.get_attribute("title") for c in browser.find_all(".field-customer [title]")}
    assert titles == set(LONG_NAMES)
