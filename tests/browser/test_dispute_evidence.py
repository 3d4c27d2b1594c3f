"""Finance answers a Stripe dispute by clicking in Chromium (issue 15 item 8): assembles the
evidence, uploads a PDF (a GIF is refused), submits it; the fake Stripe received the file on its
files host and the evidence on the dispute, and the dispute's page says it was submitted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.evidence.models import DisputeEvidence, EvidenceStatus
from payments.models import Dispute, Payment
from tests.browser.conftest import Browser
from tests.factories import make_paid_payment, make_staff
from tests.support.fake_stripe import API_KEY, FakeStripe, serve
from tests.support.outbound import fast_outbound

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
GIF = b"GIF89a" + b"\x00" * 32


@pytest.fixture
def fake_stripe(settings: Any, tmp_path: Path) -> Iterator[FakeStripe]:
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "evidence")},
        },
    }
    for fake in serve():
        settings.STRIPE_ENABLED = True
        settings.STRIPE_SECRET_KEY = API_KEY
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_FILES_API_BASE = fake.files_url
        fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=1000)
        yield fake


def _dispute(fake: FakeStripe) -> Dispute:
    payment = make_paid_payment(amount=20_000)
    intent_id = f"pi_browser_{payment.pk}"
    fake.intents[intent_id] = {
        "id": intent_id,
        "amount": 20_000,
        "currency": "brl",
        "latest_charge": f"ch_{payment.pk}",
        "status": "succeeded",
    }
    Payment.objects.filter(pk=payment.pk).update(provider="stripe", provider_payment_id=intent_id)
    due = timezone.now() + timedelta(days=5)
    provider_dispute = fake.add_dispute(intent_id, due_by=int(due.timestamp()))
    return Dispute.objects.create(
        payment=payment,
        provider="stripe",
        provider_dispute_id=provider_dispute["id"],
        reason="fraudulent",
        amount=20_000,
        currency="BRL",
        evidence_due_by=due,
        opened_at=timezone.now(),
    )


def test_finance_assembles_uploads_and_submits_evidence_by_clicking(
    browser: Browser, fake_stripe: FakeStripe, tmp_path: Path
) -> None:
    dispute = _dispute(fake_stripe)
    finance = make_staff("finance", role="finance")
    receipt, gif = tmp_path / "receipt.pdf", tmp_path / "photo.gif"
    receipt.write_bytes(PDF)
    gif.write_bytes(GIF)
    browser.sign_in(finance)

    browser.visit(dispute.get_absolute_url())
    browser.shot("dispute without evidence")
    assert browser.text("#evidence-status") == "Not started"
    assert not browser.has("#submit-evidence")
    browser.click("#assemble-evidence")
    assert browser.path.startswith(reverse("admin:payments_disputeevidence_add"))

    browser.type("#id_product_description", "Two coffee mugs, delivered 2026-05-28")
    browser.type("#id_customer_name", "Ana Souza")
    browser.type("#id_shipping_tracking_number", "BR123456789")
    browser.find("#id_documents-0-kind option[value='receipt']").click()
    browser.find("#id_documents-0-file").send_keys(str(gif))
    browser.click("input[name='_save']")
    browser.shot("a gif is refused")
    assert "Only PDF, PNG or JPEG files" in browser.text()
    assert not DisputeEvidence.objects.exists()

    browser.find("#id_documents-0-kind option[value='receipt']").click()
    browser.find("#id_documents-0-file").send_keys(str(receipt))
    browser.click("input[name='_save']")
    browser.shot("evidence saved")
    assert browser.path.startswith(dispute.get_absolute_url())
    assert browser.text("#evidence-status") == "Draft"
    assert "Receipt: receipt.pdf" in browser.text("#evidence-documents")
    assert fake_stripe.files == {}  # nothing goes to Stripe before the submission

    browser.click("#submit-evidence")
    browser.shot("evidence submitted")
    assert any("Evidence submitted to Stripe." in m for m in browser.messages())
    assert browser.text("#evidence-status") == "Submitted"
    assert "finance" in browser.text("#evidence-submitted")
    assert not browser.has("#submit-evidence")

    (uploaded,) = fake_stripe.files.values()
    assert uploaded["purpose"] == "dispute_evidence" and uploaded["filename"] == "receipt.pdf"
    assert fake_stripe.file_contents[uploaded["id"]] == PDF
    assert [s.host for s in fake_stripe.seen if s.path == "/v1/files"] == ["files"]
    provider = fake_stripe.disputes[dispute.provider_dispute_id]
    assert provider["status"] == "under_review"
    assert provider["evidence"]["receipt"] == uploaded["id"]
    assert provider["evidence"]["product_description"] == "Two coffee mugs, delivered 2026-05-28"
    assert provider["evidence"]["shipping_tracking_number"] == "BR123456789"
    evidence = DisputeEvidence.objects.get()
    assert evidence.status == EvidenceStatus.SUBMITTED and evidence.submitted_by == finance
    assert browser.csp_violations() == []


def test_support_cannot_open_a_dispute_or_submit_its_evidence(
    browser: Browser, fake_stripe: FakeStripe
) -> None:
    dispute = _dispute(fake_stripe)
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(reverse("admin:payments_dispute_evidence", args=[dispute.pk]))
    assert "You may not open this page" in browser.text()
    assert fake_stripe.seen == []
