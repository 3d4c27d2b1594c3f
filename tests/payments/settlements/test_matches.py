"""Matches: each line, payment, refund, dispute and payout at most once, by the database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.models import AuditLogEntry
from payments.exceptions import MatchNotAllowed
from payments.settlements.matches import settlement_match_manual, settlement_match_undo
from payments.settlements.models import MatchMethod, SettlementMatch, SettlementMatchItem
from tests.factories import (
    PaymentFactory,
    PayoutFactory,
    SettlementLineFactory,
    make_staff,
)

pytestmark = pytest.mark.django_db


def test_a_payment_is_in_at_most_one_match_even_written_around_the_service():
    payment = PaymentFactory.create(succeeded=True)
    first, second = SettlementLineFactory.create(), SettlementLineFactory.create()
    match = SettlementMatch.objects.create(method=MatchMethod.PROVIDER_ID)
    SettlementMatchItem.objects.create(match=match, payment=payment)
    SettlementMatchItem.objects.create(match=match, line=first)
    other = SettlementMatch.objects.create(method=MatchMethod.RULE)
    SettlementMatchItem.objects.create(match=other, line=second)

    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementMatchItem.objects.create(match=other, payment=payment)
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementMatchItem.objects.create(match=other, line=first)


def test_an_item_names_exactly_one_thing():
    match = SettlementMatch.objects.create(method=MatchMethod.MANUAL)
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementMatchItem.objects.create(match=match)
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementMatchItem.objects.create(
            match=match, line=SettlementLineFactory.create(), payout=PayoutFactory.create()
        )


def test_finance_matches_by_hand_with_a_note_and_it_is_audited():
    finance = make_staff("fin", role="finance")
    payment, line = PaymentFactory.create(succeeded=True), SettlementLineFactory.create()

    match = settlement_match_manual(
        user=finance, note="Bank line for order", line_ids=[line.pk], payment_ids=[payment.pk]
    )

    assert match.method == MatchMethod.MANUAL and match.matched_by == finance
    assert {str(item) for item in match.items.all()} == {f"line {line.pk}", f"payment {payment.pk}"}
    assert AuditLogEntry.objects.filter(action="settlement_matched", actor=finance).count() == 1


def test_a_manual_match_of_an_already_matched_item_is_refused_and_writes_nothing():
    finance = make_staff("fin", role="finance")
    payment, line, other = (
        PaymentFactory.create(succeeded=True),
        *SettlementLineFactory.create_batch(2),
    )
    settlement_match_manual(
        user=finance, note="first", line_ids=[line.pk], payment_ids=[payment.pk]
    )

    with pytest.raises(MatchNotAllowed, match=rf"payment \[{payment.pk}\]"):
        settlement_match_manual(
            user=finance, note="again", line_ids=[other.pk], payment_ids=[payment.pk]
        )

    assert SettlementMatch.objects.count() == 1
    assert not SettlementMatchItem.objects.filter(line=other).exists()


@pytest.mark.parametrize(
    ("note", "lines", "message"),
    [("", 2, "needs a note"), ("why", 1, "at least two items")],
)
def test_a_manual_match_without_a_note_or_a_pair_is_refused(note: str, lines: int, message: str):
    ids = [line.pk for line in SettlementLineFactory.create_batch(lines)]
    with pytest.raises(MatchNotAllowed, match=message):
        settlement_match_manual(user=make_staff("fin", role="finance"), note=note, line_ids=ids)
    assert not SettlementMatch.objects.exists()


def test_undoing_a_match_frees_its_items_and_is_audited():
    finance = make_staff("fin", role="finance")
    payment, line = PaymentFactory.create(succeeded=True), SettlementLineFactory.create()
    match = settlement_match_manual(
        user=finance, note="x", line_ids=[line.pk], payment_ids=[payment.pk]
    )

    with pytest.raises(MatchNotAllowed, match="needs a reason"):
        settlement_match_undo(match=match, user=finance, reason=" ")
    settlement_match_undo(match=match, user=finance, reason="wrong order")

    assert not SettlementMatchItem.objects.exists()
    assert AuditLogEntry.objects.filter(action="settlement_match_undone").count() == 1
    settlement_match_manual(
        user=finance, note="right", line_ids=[line.pk], payment_ids=[payment.pk]
    )
