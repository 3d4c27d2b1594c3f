"""The journal's admin pages as finance and as support: the list, an entry with its lines, the
periods with their close action and the export download (audited)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounting.models import AccountingPeriod, JournalEntry
from accounting.services import credit, debit, journal_post
from accounts.access.roles import sync_roles
from accounts.models import AuditLogEntry
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def roles() -> None:
    sync_roles()


def _entry() -> JournalEntry:
    entry, _ = journal_post(
        source_kind="payout",
        source_key="stripe:po_1",
        occurred_at=datetime(2026, 3, 5, tzinfo=UTC),
        currency="BRL",
        lines=[debit("bank", 123_456), credit("provider_clearing", 123_456)],
        memo="Payout to the bank",
    )
    return entry


def _client(role: str) -> Client:
    client = Client()
    client.force_login(make_staff(role, role=role))
    return client


def test_finance_sees_entries_with_lines_in_major_units_and_filters_by_account() -> None:
    entry = _entry()
    client = _client("finance")
    page = client.get(reverse("admin:accounting_journalentry_changelist"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "R$ 1.234,56" in body and 'id="journal-export"' in body
    filtered = client.get(reverse("admin:accounting_journalentry_changelist") + "?account=6200")
    assert "Payout to the bank" not in filtered.content.decode()
    filtered = client.get(reverse("admin:accounting_journalentry_changelist") + "?account=1100")
    assert "Payout to the bank" in filtered.content.decode()
    detail = client.get(reverse("admin:accounting_journalentry_change", args=[entry.pk]))
    text = detail.content.decode()
    assert "Payment provider clearing" in text and "R$ 1.234,56" in text


def test_empty_states_say_where_entries_and_periods_come_from() -> None:
    client = _client("finance")
    page = client.get(reverse("admin:accounting_journalentry_changelist"))
    assert "No journal entries yet." in page.content.decode()
    page = client.get(reverse("admin:accounting_accountingperiod_changelist"))
    assert "No accounting periods yet." in page.content.decode()


def test_finance_closes_a_period_with_the_action() -> None:
    _entry()
    period = AccountingPeriod.objects.get(month=date(2026, 3, 1))
    client = _client("finance")
    response = client.post(
        reverse("admin:accounting_accountingperiod_changelist"),
        {"action": "close_selected", "_selected_action": [period.pk]},
        follow=True,
    )
    assert "Period 2026-03 closed" in response.content.decode()
    period.refresh_from_db()
    assert period.status == "closed" and period.closed_by is not None
    assert period.closed_by.username == "finance"


def test_the_export_downloads_the_file_and_audits_it() -> None:
    _entry()
    period = AccountingPeriod.objects.get()
    client = _client("finance")
    url = reverse("admin:accounting_journalentry_export")
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"format": "xero", "period_from": period.pk, "period_to": period.pk}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="journal-xero-2026-03.csv"'
    assert response.content.decode().splitlines()[1].endswith(",1100,Tax Exempt,1234.56,,,,")
    audit = AuditLogEntry.objects.get(action="export")
    assert audit.actor_label == "finance" and audit.changes["lines"] == 2


def test_support_cannot_see_or_export_the_journal() -> None:
    _entry()
    client = _client("support")
    assert client.get(reverse("admin:accounting_journalentry_changelist")).status_code == 403
    response = client.post(
        reverse("admin:accounting_journalentry_export"),
        {"format": "csv", "period_from": AccountingPeriod.objects.get().pk},
    )
    assert response.status_code == 403
    assert not AuditLogEntry.objects.filter(action="export").exists()
