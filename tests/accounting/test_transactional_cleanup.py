"""A transactional test that posts to the journal and closes a period still leaves an empty
database behind: Django's flush would otherwise be refused by the journal's triggers on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounting.models import AccountingPeriod, JournalEntry
from accounting.services import accounting_period_close, credit, debit, journal_post
from tests.factories import make_staff


def _post_and_close() -> None:
    journal_post(
        source_kind="payout",
        source_key="flush",
        occurred_at=datetime(2026, 3, 5, tzinfo=UTC),
        currency="BRL",
        lines=[debit("bank", 1), credit("provider_clearing", 1)],
        memo="flush",
    )
    accounting_period_close(
        period=AccountingPeriod.objects.get(), closed_by=make_staff("f", role="finance")
    )


@pytest.mark.django_db(transaction=True)
def test_first_transactional_test_posts_and_closes() -> None:
    _post_and_close()
    assert JournalEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_next_one_starts_empty_and_can_do_it_again() -> None:
    assert not JournalEntry.objects.exists() and not AccountingPeriod.objects.exists()
    _post_and_close()


def test_a_fixture_requested_transactional_db_is_emptied_too(transactional_db: None) -> None:
    assert not JournalEntry.objects.exists()
    _post_and_close()
