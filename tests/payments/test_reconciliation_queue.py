"""Finance's exception queue (issue 15 item 4): each resolution, the write-off threshold and its
second approver, audit entries, the resolved event; the admin's filters, age and totals by kind."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.access.roles import sync_roles
from accounts.models import AuditLogEntry, User
from config.settings import accounting as accounting_settings
from integrations.models import DomainEvent
from payments.disputes import reconciliation_flag
from payments.exceptions import (
    MatchNotAllowed,
    ReconciliationNotAllowed,
    RefundExceedsPayment,
    WriteOffNeedsSecondApprover,
    WriteOffReauthenticationRequired,
)
from payments.models import ReconciliationException, Refund, RefundStatus
from payments.reconciliation import (
    reconciliation_resolve,
    reconciliation_resolve_by_match,
    reconciliation_resolve_refund_due,
    reconciliation_write_off,
    reconciliation_write_off_approve,
    reconciliation_write_off_reject,
)
from payments.settlements.matches import settlement_match_manual
from payments.settlements.models import SettlementMatch, SettlementMatchItem
from tests.factories import (
    PayoutFactory,
    ReconciliationExceptionFactory,
    SettlementLineFactory,
    make_paid_payment,
    make_staff,
)

pytestmark = pytest.mark.django_db

E = ReconciliationException
THRESHOLD = 10_000


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.RECONCILIATION_WRITE_OFF_APPROVAL_THRESHOLD = THRESHOLD
    settings.SENSITIVE_ACTION_REAUTH_SECONDS = 300
    sync_roles()


@pytest.fixture
def finance() -> User:
    return make_staff("fin", role="finance")


@pytest.fixture
def finance2() -> User:
    return make_staff("fin2", role="finance")


def _audit(action: str) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action=action).order_by("id"))


def _resolved_events() -> list[DomainEvent]:
    return list(DomainEvent.objects.filter(type="reconciliation.exception_resolved"))


# Write-offs and the threshold ------------------------------------------------------------------


def test_a_write_off_at_the_threshold_resolves_at_once_audited_with_its_event(finance):
    exception = ReconciliationExceptionFactory.create()

    reconciliation_write_off(
        exception=exception,
        user=finance,
        account="6100",
        amount=THRESHOLD,
        note="PSP rounding on the fee",
    )

    exception.refresh_from_db()
    assert exception.status == E.Status.RESOLVED
    assert exception.resolution == E.Resolution.WRITE_OFF
    assert (exception.write_off_account, exception.write_off_amount) == ("6100", THRESHOLD)
    assert exception.resolved_by == finance and exception.approved_by is None
    [entry] = _audit("reconciliation_resolved")
    assert entry.actor == finance and entry.summary == "PSP rounding on the fee"
    assert entry.changes["write_off"] == [None, "R$ 100,00 to 6100 Payment provider fees"]
    [event] = _resolved_events()
    assert event.data == {
        "exception_id": exception.pk,
        "kind": "fee_mismatch",
        "resolution": "write_off",
        "account": "6100",
        "amount": THRESHOLD,
        "currency": "BRL",
        "provider": "stripe",
    }
    assert event.actor_id == finance.pk


def test_a_write_off_above_the_threshold_waits_for_a_second_finance_user(finance, finance2):
    exception = ReconciliationExceptionFactory.create(amount=25_000)

    reconciliation_write_off(
        exception=exception, user=finance, account="6900", amount=THRESHOLD + 1, note="Lost"
    )

    exception.refresh_from_db()
    assert exception.status == E.Status.AWAITING_APPROVAL
    assert exception.proposed_by == finance and exception.proposed_at is not None
    assert exception.resolved_by is None
    assert not _resolved_events()
    assert [e.actor for e in _audit("write_off_proposed")] == [finance]
    assert not _audit("reconciliation_resolved")

    # The proposer cannot approve (nor reject) it; nothing changes.
    with pytest.raises(WriteOffNeedsSecondApprover):
        reconciliation_write_off_approve(
            exception=exception, approver=finance, reauthenticated_at=timezone.now()
        )
    with pytest.raises(WriteOffNeedsSecondApprover):
        reconciliation_write_off_reject(exception=exception, approver=finance, reason="no")
    # Nor can it be resolved another way meanwhile.
    with pytest.raises(ReconciliationNotAllowed, match="awaiting"):
        reconciliation_resolve(exception=exception, user=finance2, note="other")
    exception.refresh_from_db()
    assert exception.status == E.Status.AWAITING_APPROVAL and exception.approved_by is None

    reconciliation_write_off_approve(
        exception=exception, approver=finance2, reauthenticated_at=timezone.now()
    )

    exception.refresh_from_db()
    assert exception.status == E.Status.RESOLVED
    assert exception.approved_by == finance2 and exception.resolved_by == finance2
    assert exception.proposed_by == finance
    assert [e.actor for e in _audit("write_off_approved")] == [finance2]
    [event] = _resolved_events()
    assert event.data["amount"] == THRESHOLD + 1 and event.data["account"] == "6900"
    with pytest.raises(ReconciliationNotAllowed):
        reconciliation_write_off_approve(
            exception=exception, approver=finance2, reauthenticated_at=timezone.now()
        )
    assert len(_resolved_events()) == 1


def test_approving_a_write_off_needs_a_fresh_reauthentication(finance, finance2):
    exception = ReconciliationExceptionFactory.create()
    reconciliation_write_off(
        exception=exception, user=finance, account="6900", amount=50_000, note="Lost"
    )

    for stamp in (None, timezone.now() - timedelta(seconds=301)):
        with pytest.raises(WriteOffReauthenticationRequired):
            reconciliation_write_off_approve(
                exception=exception, approver=finance2, reauthenticated_at=stamp
            )

    exception.refresh_from_db()
    assert exception.status == E.Status.AWAITING_APPROVAL
    assert not _audit("write_off_approved") and not _resolved_events()


def test_a_rejected_write_off_goes_back_to_open_with_the_reason(finance, finance2):
    exception = ReconciliationExceptionFactory.create()
    reconciliation_write_off(
        exception=exception, user=finance, account="6900", amount=50_000, note="Lost"
    )

    with pytest.raises(ReconciliationNotAllowed, match="needs a reason"):
        reconciliation_write_off_reject(exception=exception, approver=finance2, reason=" ")
    reconciliation_write_off_reject(
        exception=exception, approver=finance2, reason="Ask Stripe for the fee first"
    )

    exception.refresh_from_db()
    assert exception.status == E.Status.OPEN
    assert exception.resolution == "" and exception.write_off_amount is None
    assert exception.proposed_by is None and exception.write_off_account == ""
    assert exception.rejection_reason == "Ask Stripe for the fee first"
    [entry] = _audit("write_off_rejected")
    assert entry.actor == finance2 and entry.summary == "Ask Stripe for the fee first"
    assert entry.changes["write_off"] == ["R$ 500,00 to 6900", None]
    assert not _resolved_events()

    # Back in the queue: it can be written off again, smaller, by the proposer.
    reconciliation_write_off(
        exception=exception, user=finance, account="6100", amount=150, note="Fee confirmed"
    )
    exception.refresh_from_db()
    assert exception.status == E.Status.RESOLVED and exception.rejection_reason == ""


@pytest.mark.parametrize(
    ("account", "amount", "note", "message"),
    [
        ("9999", 100, "x", "Unknown write-off account"),
        ("6900", 0, "x", "must be positive"),
        ("6900", -5, "x", "must be positive"),
        ("6900", 100, "  ", "needs a note"),
    ],
)
def test_a_write_off_the_rules_refuse_changes_nothing(finance, account, amount, note, message):
    exception = ReconciliationExceptionFactory.create()

    with pytest.raises(ReconciliationNotAllowed, match=message):
        reconciliation_write_off(
            exception=exception, user=finance, account=account, amount=amount, note=note
        )

    exception.refresh_from_db()
    assert exception.status == E.Status.OPEN and exception.write_off_amount is None
    assert not AuditLogEntry.objects.filter(object_id=str(exception.pk)).exists()


def test_a_write_off_takes_the_currency_of_the_payment_when_the_exception_has_none(finance):
    payment = make_paid_payment(currency="USD")
    exception = ReconciliationExceptionFactory.create(payment=payment, amount=None, currency="")

    reconciliation_write_off(
        exception=exception, user=finance, account="6900", amount=99, note="Cents"
    )

    exception.refresh_from_db()
    assert exception.currency == "USD"
    assert _resolved_events()[0].data["currency"] == "USD"


def test_the_same_news_while_a_write_off_awaits_approval_adds_no_second_exception(finance):
    payment = make_paid_payment()

    def flag() -> ReconciliationException:
        return reconciliation_flag(
            provider="sandbox",
            kind=E.Kind.OVER_PAYMENT,
            detail="Order over-paid",
            payment=payment,
            provider_object_id="pay_1",
        )

    exception = flag()
    reconciliation_write_off(
        exception=exception, user=finance, account="6900", amount=50_000, note="Keep it"
    )

    assert flag().pk == exception.pk
    assert E.objects.count() == 1


# Manual match -----------------------------------------------------------------------------------


def test_resolving_by_manual_match_links_the_match_in_one_go(finance):
    payment = make_paid_payment(amount=10_000)
    line = SettlementLineFactory.create()
    exception = ReconciliationExceptionFactory.create(
        kind=E.Kind.UNMATCHED_PAYMENT, payment=payment, amount=None
    )

    reconciliation_resolve_by_match(
        exception=exception,
        user=finance,
        note="Bank line carries the order number",
        line_ids=[line.pk],
        payment_ids=[payment.pk],
    )

    exception.refresh_from_db()
    assert exception.status == E.Status.RESOLVED
    assert exception.resolution == E.Resolution.MANUAL_MATCH
    match = exception.match
    assert match is not None and match.matched_by == finance
    assert {str(item) for item in match.items.all()} == {f"line {line.pk}", f"payment {payment.pk}"}
    assert _audit("settlement_matched")[0].actor == finance
    assert _audit("reconciliation_resolved")[0].changes["match"] == [None, match.pk]
    [event] = _resolved_events()
    assert event.data["resolution"] == "manual_match" and event.data["amount"] is None
    assert event.customer_id == payment.order.customer_id


def test_a_manual_match_of_an_already_matched_item_resolves_nothing(finance):
    line, other = SettlementLineFactory.create_batch(2)
    payout = PayoutFactory.create()
    settlement_match_manual(user=finance, note="first", line_ids=[line.pk], payout_ids=[payout.pk])
    exception = ReconciliationExceptionFactory.create(kind=E.Kind.UNMATCHED_LINE)

    with pytest.raises(MatchNotAllowed, match="Already matched"):
        reconciliation_resolve_by_match(
            exception=exception,
            user=finance,
            note="again",
            line_ids=[other.pk],
            payout_ids=[payout.pk],
        )

    exception.refresh_from_db()
    assert exception.status == E.Status.OPEN and exception.match is None
    assert SettlementMatch.objects.count() == 1
    assert not SettlementMatchItem.objects.filter(line=other).exists()
    assert not _audit("reconciliation_resolved") and not _resolved_events()


def test_undoing_the_match_keeps_the_exception_resolved_and_its_audit(finance):
    from payments.settlements.matches import settlement_match_undo

    line, other = SettlementLineFactory.create_batch(2)
    exception = ReconciliationExceptionFactory.create(kind=E.Kind.UNMATCHED_LINE)
    resolved = reconciliation_resolve_by_match(
        exception=exception, user=finance, note="pair", line_ids=[line.pk, other.pk]
    )
    assert resolved.match is not None
    settlement_match_undo(match=resolved.match, user=finance, reason="wrong pair")

    exception.refresh_from_db()
    assert exception.match is None and exception.status == E.Status.RESOLVED
    assert _audit("reconciliation_resolved")


# Refund due -------------------------------------------------------------------------------------


def test_refund_due_requests_the_refund_and_resolves_with_it(finance):
    payment = make_paid_payment(amount=12_000)
    exception = ReconciliationExceptionFactory.create(
        kind=E.Kind.OVER_PAYMENT, payment=payment, amount=2_000
    )

    reconciliation_resolve_refund_due(
        exception=exception, user=finance, amount=2_000, note="Customer paid twice"
    )

    exception.refresh_from_db()
    refund = exception.refund
    assert refund is not None
    assert (refund.amount, refund.status, refund.requested_by) == (
        2_000,
        RefundStatus.REQUESTED,
        finance,
    )
    assert refund.note == f"Reconciliation exception {exception.pk}: Customer paid twice"
    assert exception.status == E.Status.RESOLVED
    assert exception.resolution == E.Resolution.REFUND_DUE
    assert [e.action for e in AuditLogEntry.objects.order_by("id")] == [
        "refund_requested",
        "reconciliation_resolved",
    ]
    [event] = _resolved_events()
    assert (event.data["resolution"], event.data["amount"]) == ("refund_due", 2_000)


def test_refund_due_above_what_is_refundable_resolves_nothing(finance):
    payment = make_paid_payment(amount=5_000)
    exception = ReconciliationExceptionFactory.create(kind=E.Kind.OVER_PAYMENT, payment=payment)

    with pytest.raises(RefundExceedsPayment):
        reconciliation_resolve_refund_due(
            exception=exception, user=finance, amount=5_001, note="too much"
        )

    exception.refresh_from_db()
    assert exception.status == E.Status.OPEN and exception.refund is None
    assert not Refund.objects.exists() and not _resolved_events()


def test_refund_due_without_a_payment_is_refused(finance):
    exception = ReconciliationExceptionFactory.create(kind=E.Kind.UNMATCHED_LINE)

    with pytest.raises(ReconciliationNotAllowed, match="no payment"):
        reconciliation_resolve_refund_due(exception=exception, user=finance, note="?")

    assert not Refund.objects.exists()


def test_a_note_only_resolution_is_other_and_records_the_event(finance):
    exception = ReconciliationExceptionFactory.create(kind=E.Kind.MISSING_PAYOUT, amount=9_601)

    reconciliation_resolve(exception=exception, user=finance, note="Payout arrived late")

    exception.refresh_from_db()
    assert exception.resolution == E.Resolution.OTHER
    [event] = _resolved_events()
    assert (event.data["resolution"], event.data["amount"]) == ("other", 9_601)


# The admin: list, filters, age, totals ----------------------------------------------------------

CHANGELIST = "admin:payments_reconciliationexception_changelist"


def _resolve_url(exception: ReconciliationException) -> str:
    return reverse("admin:payments_reconciliationexception_resolve", args=[exception.pk])


def _write_off_url(exception: ReconciliationException) -> str:
    return reverse("admin:payments_reconciliationexception_write_off", args=[exception.pk])


def _listed(response: Any) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def _totals(response: Any) -> dict[str, tuple[int, list[str]]]:
    return {
        row["kind"]: (row["count"], row.get("amounts", []))
        for row in response.context["kind_totals"]
    }


def test_the_queue_lists_open_ones_by_default_with_totals_by_kind_per_currency(client, finance):
    fee = ReconciliationExceptionFactory.create(amount=150)
    fee_usd = ReconciliationExceptionFactory.create(amount=275, currency="USD")
    fee2 = ReconciliationExceptionFactory.create(amount=50)
    line = ReconciliationExceptionFactory.create(
        kind=E.Kind.UNMATCHED_LINE, amount=-9_601, provider="asaas"
    )
    ReconciliationExceptionFactory.create(
        kind=E.Kind.MISSING_PAYOUT, status=E.Status.RESOLVED, resolution="other"
    )
    client.force_login(finance)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert _listed(response) == {fee.pk, fee_usd.pk, fee2.pk, line.pk}
    assert _totals(response) == {
        "fee_mismatch": (3, ["R$ 2,00", "US$ 2.75"]),
        "unmatched_line": (1, ["-R$ 96,01"]),
    }
    html = response.content.decode()
    assert 'id="kind-totals"' in html and "R$ 2,00" in html and "-R$ 96,01" in html
    assert _resolve_url(fee) in html

    # Filters narrow the list and its totals.
    response = client.get(reverse(CHANGELIST), {"kind": "unmatched_line"})
    assert _listed(response) == {line.pk}
    assert _totals(response) == {"unmatched_line": (1, ["-R$ 96,01"])}
    response = client.get(reverse(CHANGELIST), {"provider": "asaas"})
    assert _listed(response) == {line.pk}
    response = client.get(reverse(CHANGELIST), {"status": "all"})
    assert len(_listed(response)) == 5
    assert _totals(response)["missing_payout"] == (1, ["R$ 1,50"])


@pytest.mark.parametrize(
    ("band", "expected"),
    [("0", {"new"}), ("1", {"three"}), ("2", {"ten"}), ("3", {"forty"})],
)
def test_the_age_filter_uses_the_dashboards_bands(client, finance, band, expected):
    made = {
        "new": ReconciliationExceptionFactory.create(),
        "three": ReconciliationExceptionFactory.create(age_days=3),
        "ten": ReconciliationExceptionFactory.create(age_days=10),
        "forty": ReconciliationExceptionFactory.create(age_days=40),
    }
    client.force_login(finance)

    response = client.get(reverse(CHANGELIST), {"age": band})

    assert _listed(response) == {made[name].pk for name in expected}


def test_the_age_column_says_how_long_it_has_waited(client, finance):
    ReconciliationExceptionFactory.create(age_days=12)
    client.force_login(finance)

    response = client.get(reverse(CHANGELIST))

    assert '<td class="field-age">12 d</td>' in response.content.decode()


def test_the_queue_costs_the_same_queries_for_many_rows(
    client, finance, django_assert_max_num_queries
):
    client.force_login(finance)
    ReconciliationExceptionFactory.create(payment=make_paid_payment())
    with django_assert_max_num_queries(50) as few:
        client.get(reverse(CHANGELIST))
    for _ in range(12):
        ReconciliationExceptionFactory.create(payment=make_paid_payment())
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse(CHANGELIST))
    assert len(_listed(response)) == 13


# The admin: Resolve and Approve / reject pages ----------------------------------------------------


def test_a_write_off_typed_in_major_units_resolves_from_the_resolve_page(client, finance):
    exception = ReconciliationExceptionFactory.create()
    client.force_login(finance)

    page = client.get(_resolve_url(exception))
    assert page.status_code == 200
    assert 'value="1,50"' in page.content.decode()  # the difference, in major units

    response = client.post(
        _resolve_url(exception),
        {"resolution": "write_off", "account": "6100", "amount": "1,50", "note": "PSP fee"},
    )

    assert response.status_code == 302 and response["Location"] == reverse(CHANGELIST)
    exception.refresh_from_db()
    assert exception.status == E.Status.RESOLVED
    assert (exception.write_off_amount, exception.write_off_account) == (150, "6100")


def test_the_resolve_page_says_what_each_resolution_lacks(client, finance):
    exception = ReconciliationExceptionFactory.create()
    client.force_login(finance)

    write_off = client.post(
        _resolve_url(exception), {"resolution": "write_off", "amount": "1,505", "note": "x"}
    )
    match = client.post(_resolve_url(exception), {"resolution": "manual_match", "note": "x"})
    refund = client.post(_resolve_url(exception), {"resolution": "refund_due", "note": "x"})

    assert write_off.status_code == 200
    assert write_off.context["form"].errors["account"] == ["A write-off needs an account."]
    assert "decimals" in write_off.context["form"].errors["amount"][0]
    assert "at least two items" in match.context["form"].errors["lines"][0]
    assert "no payment" in refund.context["form"].errors["resolution"][0]
    exception.refresh_from_db()
    assert exception.status == E.Status.OPEN
    assert not AuditLogEntry.objects.filter(object_id=str(exception.pk)).exists()


def test_a_manual_match_from_the_page_picks_a_line_and_the_exceptions_payment(client, finance):
    payment = make_paid_payment()
    line = SettlementLineFactory.create(provider="sandbox")
    SettlementLineFactory.create(provider="stripe")  # another provider's: not offered
    exception = ReconciliationExceptionFactory.create(
        provider="sandbox", kind=E.Kind.UNMATCHED_PAYMENT, payment=payment
    )
    client.force_login(finance)

    page = client.get(_resolve_url(exception))
    assert list(page.context["form"].fields["lines"].queryset) == [line]
    assert payment.provider_payment_id == ""  # a sandbox payment: offered by our id
    assert page.context["form"]["payments"].initial == str(payment.pk)

    response = client.post(
        _resolve_url(exception),
        {
            "resolution": "manual_match",
            "note": "Same order",
            "lines": [line.pk],
            "payments": str(payment.pk),
        },
    )

    assert response.status_code == 302
    exception.refresh_from_db()
    assert exception.resolution == E.Resolution.MANUAL_MATCH
    assert SettlementMatchItem.objects.get(line=line).match_id == exception.match_id
    assert SettlementMatchItem.objects.get(payment=payment).match_id == exception.match_id


def test_an_unknown_provider_id_is_named_and_nothing_is_matched(client, finance):
    line = SettlementLineFactory.create()
    payout = PayoutFactory.create()
    exception = ReconciliationExceptionFactory.create(settlement_line=line)
    client.force_login(finance)

    response = client.post(
        _resolve_url(exception),
        {
            "resolution": "manual_match",
            "note": "x",
            "lines": [line.pk],
            "payouts": f"po_nope {payout.provider_payout_id} 999999",
        },
    )

    assert response.context["form"].errors["payouts"] == ["Not found: po_nope, 999999."]
    assert not SettlementMatch.objects.exists()


def test_the_write_off_page_approves_after_reauthentication_and_refuses_the_proposer(
    client, finance, finance2
):
    exception = ReconciliationExceptionFactory.create()
    reconciliation_write_off(
        exception=exception, user=finance, account="6900", amount=20_000, note="Lost"
    )

    client.force_login(finance)
    own = client.get(_write_off_url(exception))
    assert 'id="write-off-own"' in own.content.decode()
    assert 'id="approve-write-off"' not in own.content.decode()
    refused = client.post(_write_off_url(exception), {"decision": "approve"}, follow=True)
    assert "You proposed this write-off; another finance user approves or rejects it." in (
        refused.content.decode()
    )
    exception.refresh_from_db()
    assert exception.status == E.Status.AWAITING_APPROVAL

    client.force_login(finance2)
    session = client.session
    session["reauth_at"] = 0  # signed in long ago
    session.save()
    stale = client.post(_write_off_url(exception), {"decision": "approve"})
    assert stale.status_code == 302 and stale["Location"].startswith(reverse("reauth"))
    exception.refresh_from_db()
    assert exception.status == E.Status.AWAITING_APPROVAL

    client.force_login(finance2)  # a fresh login is a fresh authentication
    approved = client.post(_write_off_url(exception), {"decision": "approve"})
    assert approved.status_code == 302
    exception.refresh_from_db()
    assert exception.status == E.Status.RESOLVED and exception.approved_by == finance2


def test_the_write_off_page_rejects_with_a_reason(client, finance, finance2):
    exception = ReconciliationExceptionFactory.create()
    reconciliation_write_off(
        exception=exception, user=finance, account="6900", amount=20_000, note="Lost"
    )
    client.force_login(finance2)

    blank = client.post(_write_off_url(exception), {"decision": "reject", "reason": ""})
    assert blank.status_code == 200
    assert blank.context["reject_form"].errors["reason"]
    done = client.post(_write_off_url(exception), {"decision": "reject", "reason": "Too big"})

    assert done.status_code == 302
    exception.refresh_from_db()
    assert exception.status == E.Status.OPEN and exception.rejection_reason == "Too big"


@pytest.mark.parametrize("role", ["support", "sales", "ops"])
def test_other_roles_cannot_open_the_queue_pages(client, role):
    exception = ReconciliationExceptionFactory.create()
    client.force_login(make_staff(f"u-{role}", role=role))

    assert client.get(_resolve_url(exception)).status_code == 403
    assert (
        client.post(
            _resolve_url(exception),
            {"resolution": "write_off", "account": "6100", "amount": "1,50", "note": "x"},
        ).status_code
        == 403
    )
    assert client.post(_write_off_url(exception), {"decision": "approve"}).status_code == 403
    exception.refresh_from_db()
    assert exception.status == E.Status.OPEN


def test_refund_due_from_the_resolve_page_requests_the_refund_typed_in_major_units(client, finance):
    payment = make_paid_payment(amount=12_000)
    exception = ReconciliationExceptionFactory.create(
        kind=E.Kind.OVER_PAYMENT, payment=payment, amount=2_000
    )
    client.force_login(finance)

    response = client.post(
        _resolve_url(exception),
        {
            "resolution": "refund_due",
            "amount": "20,00",
            "refund_reason": "duplicate",
            "note": "Paid twice",
        },
        follow=True,
    )

    exception.refresh_from_db()
    refund = exception.refund
    assert refund is not None and (refund.amount, refund.reason) == (2_000, "duplicate")
    assert f"Exception {exception.pk} resolved: {refund} requested." in response.content.decode()


def test_the_documented_threshold_and_accounts_are_the_settings_defaults():
    from pathlib import Path

    from integrations.money import format_money

    root = Path(__file__).resolve().parents[2]
    base = (root / "config" / "settings" / "base.py").read_text()
    docs = " ".join((root / "docs" / "settlements.md").read_text().split())
    default = re.search(
        r'"RECONCILIATION_WRITE_OFF_APPROVAL_THRESHOLD", default=([\d_]+)\s*\)', base
    )
    assert default is not None
    amount = int(default.group(1))
    assert f"default {amount} = {format_money(amount, 'BRL')}" in docs
    for code, name in accounting_settings.WRITE_OFF_ACCOUNTS:  # the chart's defaults
        assert f"`{code}` {name}" in docs
