"""``manage.py settlements_import`` and the daily schedule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.schedules import MAIN, SCHEDULES
from payments.settlements.models import SettlementLine
from payments.settlements.tasks import import_daily
from tests.support.fake_asaas import FakeAsaas
from tests.support.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db


def test_the_command_imports_stripe_with_a_progress_line(fake_stripe: FakeStripe) -> None:
    for i in range(3):
        fake_stripe.add_balance_transaction("charge", 1_000, fee=59, source=f"ch_{i}")
    out, err = StringIO(), StringIO()
    call_command(
        "settlements_import",
        "--provider",
        "stripe",
        "--since",
        "2026-05-01",
        stdout=out,
        stderr=err,
    )
    assert "stripe: 3 new settlement lines of 3 read" in out.getvalue()
    assert "balance_transactions" in err.getvalue() and "\r" in err.getvalue()
    gte = fake_stripe.requests_to("/v1/balance_transactions", "GET")[0].form["created[gte]"]
    assert gte == "1777593600"  # 2026-05-01T00:00:00Z
    out = StringIO()
    call_command("settlements_import", "--provider", "stripe", stdout=out, stderr=StringIO())
    assert "stripe: 0 new settlement lines of 3 read" in out.getvalue()


def test_the_command_draws_asaas_progress_against_its_total(fake_asaas: FakeAsaas) -> None:
    fake_asaas.today = date(2026, 3, 10)
    for i in range(120):
        fake_asaas.book("PAYMENT_RECEIVED", Decimal("10.00"), payment_id=f"pay_{i}")
    err = StringIO()
    call_command("settlements_import", "--provider", "asaas", stdout=StringIO(), stderr=err)
    assert "100% 120/120" in err.getvalue()
    assert SettlementLine.objects.filter(provider="asaas").count() == 120


def test_the_command_says_how_to_carry_on_after_an_outage(fake_stripe: FakeStripe) -> None:
    fake_stripe.inject("/v1/balance_transactions", *["edge_503"] * 5)
    with pytest.raises(CommandError, match="run the command again"):
        call_command(
            "settlements_import", "--provider", "stripe", stdout=StringIO(), stderr=StringIO()
        )
    with pytest.raises(CommandError, match="--since"):
        call_command("settlements_import", "--provider", "stripe", "--since", "soon")


def test_the_daily_import_is_scheduled_on_the_main_cluster() -> None:
    (job,) = [j for j in SCHEDULES if j.name == "settlements-import"]
    assert (job.func, job.minutes, job.cluster) == (
        "payments.settlements.tasks.import_daily",
        1440,
        MAIN,
    )


def test_the_daily_task_imports_every_enabled_provider(
    settings: Any, fake_stripe: FakeStripe, fake_asaas: FakeAsaas
) -> None:
    fake_stripe.add_balance_transaction("charge", 1_000, fee=59, source="ch_1")
    fake_asaas.book("PAYMENT_RECEIVED", Decimal("10.00"), payment_id="pay_1")
    fake_asaas.fail("GET", "/transfers", "500", "500", "500", "500")
    outcome = import_daily()
    assert outcome["stripe"].startswith("1 lines, 0 payouts new")
    assert outcome["asaas"].startswith("failed: ")  # its transfers failed; Stripe went on
    assert SettlementLine.objects.filter(provider="asaas").count() == 1
    settings.ASAAS_ENABLED = False
    assert set(import_daily()) == {"stripe", "matching"}
