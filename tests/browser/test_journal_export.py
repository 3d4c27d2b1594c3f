"""Finance exports the journal for Xero and closes a period by clicking in Chromium (issue 15
item 5); support sees neither."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, date, datetime
from pathlib import Path

from django.urls import reverse
from selenium.webdriver.support.ui import Select

from accounting.models import AccountingPeriod
from accounting.services import credit, debit, journal_post
from accounts.models import AuditLogEntry
from tests.browser.conftest import Browser
from tests.factories import make_staff


def _downloaded(folder: Path, name: str, seconds: float = 15) -> Path:
    target = folder / name
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if target.exists() and not list(folder.glob("*.crdownload")):
            return target
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded; folder has {list(folder.iterdir())}")


def _journal() -> None:
    for key, at, amount in (
        ("1", datetime(2026, 3, 5, 10, tzinfo=UTC), 10_000),
        ("2", datetime(2026, 4, 7, 10, tzinfo=UTC), 5_000),
    ):
        journal_post(
            source_kind="payment.charge",
            source_key=key,
            occurred_at=at,
            currency="BRL",
            lines=[
                debit("provider_clearing", amount - 399),
                debit("provider_fees", 399),
                credit("revenue", amount),
            ],
            memo=f"Charge order SB-{key}",
            provider="stripe",
        )


def test_finance_downloads_the_xero_journal_and_closes_a_period(
    browser: Browser, tmp_path: Path
) -> None:
    _journal()
    march = AccountingPeriod.objects.get(month=date(2026, 3, 1))
    finance = make_staff("finance", role="finance")
    browser.sign_in(finance)
    browser.driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )

    browser.visit(reverse("admin:accounting_journalentry_changelist"))
    browser.shot("journal entries")
    assert "R$ 100,00" in browser.text("#result_list")
    browser.click("#journal-export")
    assert browser.path == reverse("admin:accounting_journalentry_export")
    Select(browser.find("#id_format")).select_by_value("xero")
    Select(browser.find("#id_period_from")).select_by_visible_text("2026-03")
    Select(browser.find("#id_period_to")).select_by_visible_text("2026-03")
    browser.shot("export form filled")
    browser.find("#journal-export-download").click()

    rows = list(
        csv.reader(io.StringIO(_downloaded(tmp_path, "journal-xero-2026-03.csv").read_text()))
    )
    assert rows[0][:6] == [
        "*Narration",
        "*Date",
        "Description",
        "*AccountCode",
        "*TaxRate",
        "*Amount",
    ]
    assert [(r[1], r[3], r[5]) for r in rows[1:]] == [
        ("05/03/2026", "1150", "96.01"),
        ("05/03/2026", "6100", "3.99"),
        ("05/03/2026", "4000", "-100.00"),
    ]
    audit = AuditLogEntry.objects.get(action=AuditLogEntry.Action.EXPORT)
    assert audit.actor == finance and audit.changes["format"] == "xero"

    browser.visit(reverse("admin:accounting_accountingperiod_changelist"))
    browser.find(f'input.action-select[value="{march.pk}"]').click()
    Select(browser.find('select[name="action"]')).select_by_value("close_selected")
    browser.click('button[name="index"]')
    browser.shot("period closed")
    assert any("Period 2026-03 closed" in m for m in browser.messages())
    march.refresh_from_db()
    assert march.status == "closed" and march.closed_by == finance
    assert AccountingPeriod.objects.get(month=date(2026, 4, 1)).status == "open"


def test_support_sees_no_journal_and_is_refused_the_export(browser: Browser) -> None:
    _journal()
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(reverse("admin:index"))
    assert not browser.has(
        'a[href="{}"]'.format(reverse("admin:accounting_journalentry_changelist"))
    )
    browser.visit(reverse("admin:accounting_journalentry_export"))
    assert browser.driver.title.startswith("Not allowed")
    browser.visit(reverse("admin:accounting_accountingperiod_changelist"))
    assert browser.driver.title.startswith("Not allowed")
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.EXPORT).exists()
