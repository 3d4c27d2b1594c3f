"""Dispute evidence: submitted to Stripe (Files API, then the dispute with its evidence) and to
Asaas (the chargeback dispute with its files) against the fake servers; refused after the
deadline, twice, or when the dispute takes none; documents checked as the providers check them
and kept on the configured storage."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from config.settings.evidence import evidence_storage_from_env
from integrations.exceptions import ProviderRejected
from integrations.models import DomainEvent, ProviderCall
from payments.evidence.files import MAX_DOCUMENT_BYTES, evidence_file_check
from payments.evidence.models import DisputeEvidence, DocumentKind, EvidenceDocument, EvidenceStatus
from payments.evidence.storage import evidence_storage
from payments.evidence.workflows import dispute_evidence_submit
from payments.exceptions import EvidenceDeadlinePassed, EvidenceNotAllowed
from payments.models import Dispute, DisputeStatus, Payment
from payments.providers.stripe.client import StripeGateway
from tests.factories import make_asaas_customer, make_paid_payment
from tests.support.fake_asaas import API_KEY as ASAAS_KEY
from tests.support.fake_asaas import FakeAsaas, serve_fake_asaas
from tests.support.fake_stripe import API_KEY as STRIPE_KEY
from tests.support.fake_stripe import FakeStripe, serve
from tests.support.outbound import fast_outbound

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32


@pytest.fixture(autouse=True)
def evidence_files(settings: Any, tmp_path: Any) -> Any:
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "evidence")},
        },
    }
    return tmp_path / "evidence"


@pytest.fixture
def fake_stripe(settings: Any) -> Iterator[FakeStripe]:
    for fake in serve():
        settings.STRIPE_ENABLED = True
        settings.STRIPE_SECRET_KEY = STRIPE_KEY
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_FILES_API_BASE = fake.files_url
        fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=1000)
        yield fake


@pytest.fixture
def fake_asaas(settings: Any) -> Iterator[FakeAsaas]:
    with serve_fake_asaas() as fake:
        settings.ASAAS_ENABLED = True
        settings.ASAAS_API_BASE = fake.url
        settings.ASAAS_API_KEY = ASAAS_KEY
        fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=1000)
        yield fake


def _stripe_dispute(fake: FakeStripe, *, due_in: timedelta = timedelta(days=5)) -> Dispute:
    payment = make_paid_payment(amount=20_000)
    intent_id = f"pi_evidence_{payment.pk}"
    fake.intents[intent_id] = {
        "id": intent_id,
        "amount": 20_000,
        "currency": "brl",
        "latest_charge": f"ch_{payment.pk}",
        "status": "succeeded",
    }
    Payment.objects.filter(pk=payment.pk).update(provider="stripe", provider_payment_id=intent_id)
    due = timezone.now() + due_in
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


def _document(evidence: DisputeEvidence, content: bytes, kind: str, name: str) -> EvidenceDocument:
    return EvidenceDocument.objects.create(
        evidence=evidence,
        kind=kind,
        file=ContentFile(content, name=name),
        original_name=name,
        size=len(content),
        content_type=evidence_file_check(SimpleUploadedFile(name, content)),
    )


def _evidence(dispute: Dispute, **fields: Any) -> DisputeEvidence:
    return DisputeEvidence.objects.create(dispute=dispute, **fields)


# Stripe --------------------------------------------------------------------------------------


def test_stripe_gets_each_document_through_the_files_host_then_the_evidence_submitted(
    fake_stripe: FakeStripe, finance_user: Any, evidence_files: Any
) -> None:
    dispute = _stripe_dispute(fake_stripe)
    evidence = _evidence(
        dispute,
        product_description="Two coffee mugs",
        customer_name="Ana Souza",
        shipping_tracking_number="BR123456789",
        shipping_carrier="Correios",
    )
    receipt = _document(evidence, PDF, DocumentKind.RECEIPT, "receipt.pdf")
    _document(evidence, PNG, DocumentKind.SHIPPING_DOCUMENTATION, "label.png")

    submitted = dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)

    assert submitted.status == EvidenceStatus.SUBMITTED
    assert submitted.submitted_by == finance_user and submitted.submitted_at is not None
    uploads = [s for s in fake_stripe.seen if s.path == "/v1/files"]
    assert [(s.host, s.form["purpose"]) for s in uploads] == [("files", "dispute_evidence")] * 2
    assert uploads[0].uploads["file"].content == PDF
    assert uploads[1].uploads["file"].content == PNG
    provider = fake_stripe.disputes[dispute.provider_dispute_id]
    assert provider["status"] == "under_review"
    assert provider["evidence_details"]["submission_count"] == 1
    receipt.refresh_from_db()
    assert receipt.provider_file_id.startswith("file_")
    assert provider["evidence"]["receipt"] == receipt.provider_file_id
    assert fake_stripe.file_contents[receipt.provider_file_id] == PDF
    assert provider["evidence"]["product_description"] == "Two coffee mugs"
    assert provider["evidence"]["shipping_tracking_number"] == "BR123456789"
    update = fake_stripe.requests_to(f"/v1/disputes/{dispute.provider_dispute_id}")
    assert len(update) == 1 and update[0].form["submit"] == "true"
    assert update[0].headers["idempotency-key"].startswith(f"dispute-evidence:{evidence.pk}:")
    calls = ProviderCall.objects.filter(provider="stripe").values_list("operation", flat=True)
    assert sorted(calls) == [
        "submit_dispute_evidence",
        "upload_evidence_file",
        "upload_evidence_file",
    ]
    assert DomainEvent.objects.filter(type="dispute.evidence_submitted").count() == 1
    # The document is on the configured storage.
    assert (evidence_files / receipt.file.name).read_bytes() == PDF


def test_a_second_submission_is_refused_by_us_and_by_stripe(
    fake_stripe: FakeStripe, finance_user: Any
) -> None:
    dispute = _stripe_dispute(fake_stripe)
    evidence = _evidence(dispute, uncategorized_text="Delivered and signed for.")
    dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)
    sent = len(fake_stripe.seen)

    with pytest.raises(EvidenceNotAllowed, match="submitted already"):
        dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)
    assert len(fake_stripe.seen) == sent

    # Stripe itself answers 400 once the dispute is under review.
    with pytest.raises(ProviderRejected):
        StripeGateway.from_settings().submit_dispute_evidence(
            dispute_id=dispute.provider_dispute_id,
            evidence={"uncategorized_text": "Again"},
            idempotency_key="another-key",
        )


def test_after_the_deadline_nothing_is_sent_and_stripe_refuses_too(
    fake_stripe: FakeStripe, finance_user: Any
) -> None:
    dispute = _stripe_dispute(fake_stripe, due_in=timedelta(seconds=-60))
    evidence = _evidence(dispute, uncategorized_text="Late.")

    with pytest.raises(EvidenceDeadlinePassed):
        dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)

    assert fake_stripe.seen == []
    evidence.refresh_from_db()
    assert evidence.status == EvidenceStatus.DRAFT
    with pytest.raises(ProviderRejected):
        StripeGateway.from_settings().submit_dispute_evidence(
            dispute_id=dispute.provider_dispute_id,
            evidence={"uncategorized_text": "Late."},
            idempotency_key="late",
        )
    assert fake_stripe.disputes[dispute.provider_dispute_id]["status"] == "needs_response"


def test_a_dispute_under_review_or_decided_takes_no_evidence(
    fake_stripe: FakeStripe, finance_user: Any
) -> None:
    dispute = _stripe_dispute(fake_stripe)
    evidence = _evidence(dispute, uncategorized_text="x")
    for status in (DisputeStatus.UNDER_REVIEW, DisputeStatus.LOST):
        Dispute.objects.filter(pk=dispute.pk).update(status=status)
        with pytest.raises(EvidenceNotAllowed, match="takes no evidence"):
            dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)
    assert fake_stripe.seen == []


def test_a_refusal_leaves_the_evidence_failed_with_the_error_and_it_can_be_sent_again(
    fake_stripe: FakeStripe, finance_user: Any
) -> None:
    dispute = _stripe_dispute(fake_stripe)
    evidence = _evidence(dispute, uncategorized_text="x" * 10)
    document = _document(evidence, PDF, DocumentKind.RECEIPT, "receipt.pdf")
    fake_stripe.inject(
        f"/v1/disputes/{dispute.provider_dispute_id}", "api_500", "api_500", "api_500"
    )

    failed = dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)

    assert failed.status == EvidenceStatus.FAILED and "unavailable" in failed.last_error
    document.refresh_from_db()
    uploaded = document.provider_file_id
    assert uploaded
    fake_stripe.faults.clear()
    # Stripe replays a stored 500 for the same key: corrected evidence is a new request.
    DisputeEvidence.objects.filter(pk=evidence.pk).update(uncategorized_text="Signed for.")

    submitted = dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)

    assert submitted.status == EvidenceStatus.SUBMITTED and submitted.last_error == ""
    assert len([s for s in fake_stripe.seen if s.path == "/v1/files"]) == 1  # not uploaded again
    assert fake_stripe.disputes[dispute.provider_dispute_id]["evidence"]["receipt"] == uploaded


def test_stripe_takes_one_file_per_kind(fake_stripe: FakeStripe, finance_user: Any) -> None:
    evidence = _evidence(_stripe_dispute(fake_stripe))
    _document(evidence, PDF, DocumentKind.RECEIPT, "a.pdf")
    _document(evidence, JPEG, DocumentKind.RECEIPT, "b.jpg")

    with pytest.raises(EvidenceNotAllowed, match="one file per kind"):
        dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)
    assert fake_stripe.seen == []


def test_the_fake_stripe_refuses_what_stripe_refuses(fake_stripe: FakeStripe) -> None:
    dispute = _stripe_dispute(fake_stripe)
    gateway = StripeGateway.from_settings()
    with pytest.raises(ProviderRejected):  # not an evidence field
        gateway.submit_dispute_evidence(
            dispute_id=dispute.provider_dispute_id,
            evidence={"favourite_colour": "blue"},
            idempotency_key="k1",
        )
    with pytest.raises(ProviderRejected):  # a file id that was never uploaded
        gateway.submit_dispute_evidence(
            dispute_id=dispute.provider_dispute_id,
            evidence={"receipt": "file_nope"},
            idempotency_key="k2",
        )
    with pytest.raises(ProviderRejected):  # not PDF, JPEG or PNG
        gateway.upload_evidence_file(content=GIF, filename="a.gif", idempotency_key="k3")
    with pytest.raises(ProviderRejected):  # over 5 MB
        gateway.upload_evidence_file(
            content=PDF + b"0" * MAX_DOCUMENT_BYTES, filename="big.pdf", idempotency_key="k4"
        )
    # Uploads go to the files host: the API host refuses them.
    misdirected = StripeGateway(
        api_key=STRIPE_KEY, api_base=fake_stripe.url, files_base=fake_stripe.url
    )
    with pytest.raises(ProviderRejected):
        misdirected.upload_evidence_file(content=PDF, filename="a.pdf", idempotency_key="k5")
    assert fake_stripe.disputes[dispute.provider_dispute_id]["status"] == "needs_response"
    assert fake_stripe.files == {}


# Asaas ---------------------------------------------------------------------------------------


def _asaas_dispute(fake: FakeAsaas, *, deadline: date | None = None) -> Dispute:
    payment = make_paid_payment(amount=15_000, customer=make_asaas_customer())
    provider_id = f"pay_{payment.pk:012d}"
    fake.payments[provider_id] = {
        "object": "payment",
        "id": provider_id,
        "value": Decimal("150.00"),
        "status": "RECEIVED",
        "billingType": "CREDIT_CARD",
        "externalReference": f"payment:{payment.pk}",
        "refunds": [],
        "dueDate": fake.today.isoformat(),
    }
    fake.open_chargeback(provider_id, deadline=deadline or fake.today + timedelta(days=5))
    Payment.objects.filter(pk=payment.pk).update(provider="asaas", provider_payment_id=provider_id)
    payment.refresh_from_db()
    return Dispute.objects.create(
        payment=payment,
        provider="asaas",
        provider_dispute_id=f"{provider_id}:chargeback",
        reason="FRAUD",
        amount=15_000,
        currency="BRL",
        evidence_due_by=timezone.now() + timedelta(days=5),
        opened_at=timezone.now(),
    )


def test_asaas_gets_the_chargeback_dispute_with_the_documents_as_files(
    fake_asaas: FakeAsaas, finance_user: Any
) -> None:
    dispute = _asaas_dispute(fake_asaas)
    payment_id = dispute.payment.provider_payment_id
    evidence = _evidence(dispute)
    _document(evidence, PDF, DocumentKind.RECEIPT, "nota-fiscal.pdf")
    _document(evidence, JPEG, DocumentKind.SHIPPING_DOCUMENTATION, "entrega.jpg")

    submitted = dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)

    assert submitted.status == EvidenceStatus.SUBMITTED
    files = fake_asaas.dispute_files(payment_id)
    assert [(f.filename, f.content, f.content_type) for f in files] == [
        ("nota-fiscal.pdf", PDF, "application/pdf"),
        ("entrega.jpg", JPEG, "image/jpeg"),
    ]
    assert fake_asaas.payments[payment_id]["chargeback"]["status"] == "IN_DISPUTE"
    (request,) = fake_asaas.requests_to("POST", f"/chargebacks/{payment_id}/dispute")
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.headers["access_token"] == ASAAS_KEY


def test_asaas_takes_files_only_and_refuses_a_second_dispute(
    fake_asaas: FakeAsaas, finance_user: Any
) -> None:
    dispute = _asaas_dispute(fake_asaas)
    evidence = _evidence(dispute, uncategorized_text="Text alone is not enough for Asaas.")
    with pytest.raises(EvidenceNotAllowed, match="documents only"):
        dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)
    assert fake_asaas.seen == []
    _document(evidence, PDF, DocumentKind.RECEIPT, "a.pdf")
    dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)

    # Asaas refuses a second dispute of the same chargeback; so do we, before sending.
    from payments.providers.asaas.client import AsaasClient

    with pytest.raises(ProviderRejected):
        AsaasClient().chargeback_dispute(
            dispute.payment.provider_payment_id,
            files=[("b.pdf", PDF, "application/pdf")],
            idempotency_key="again",
        )
    with pytest.raises(EvidenceNotAllowed):
        dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)


def test_asaas_after_its_deadline_refuses_the_dispute(fake_asaas: FakeAsaas) -> None:
    from payments.providers.asaas.client import AsaasClient

    dispute = _asaas_dispute(fake_asaas, deadline=fake_asaas.today - timedelta(days=1))
    with pytest.raises(ProviderRejected):
        AsaasClient().chargeback_dispute(
            dispute.payment.provider_payment_id,
            files=[("a.pdf", PDF, "application/pdf")],
            idempotency_key="late",
        )
    assert fake_asaas.payments[dispute.payment.provider_payment_id]["chargeback"]["status"] == (
        "REQUESTED"
    )


def test_an_asaas_retry_after_a_lost_answer_finds_the_dispute_already_made(
    fake_asaas: FakeAsaas, finance_user: Any
) -> None:
    dispute = _asaas_dispute(fake_asaas)
    payment_id = dispute.payment.provider_payment_id
    evidence = _evidence(dispute)
    _document(evidence, PDF, DocumentKind.RECEIPT, "a.pdf")
    fake_asaas.fail("POST", f"/chargebacks/{payment_id}/dispute", "timeout_after_apply")

    failed = dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)
    assert failed.status == EvidenceStatus.FAILED
    assert fake_asaas.payments[payment_id]["chargeback"]["status"] == "IN_DISPUTE"

    submitted = dispute_evidence_submit(evidence_id=evidence.pk, user=finance_user)

    assert submitted.status == EvidenceStatus.SUBMITTED
    assert submitted.provider_response["found_on_retry"] is True
    assert len(fake_asaas.requests_to("POST", f"/chargebacks/{payment_id}/dispute")) == 1


# Documents -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg")],
)
def test_pdf_png_and_jpeg_are_taken_by_their_content(content: bytes, expected: str) -> None:
    assert evidence_file_check(SimpleUploadedFile("renamed.bin", content)) == expected


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (GIF, "file_type"),
        (b"<html>%PDF-</html>", "file_type"),
        (b"", "empty"),
        (PDF + b"0" * MAX_DOCUMENT_BYTES, "too_large"),
    ],
)
def test_other_files_empty_ones_and_those_over_5_mb_are_refused(content: bytes, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        evidence_file_check(SimpleUploadedFile("evidence.pdf", content))
    assert refused.value.code == code


# Storage -------------------------------------------------------------------------------------


def _env(monkeypatch: Any, **values: str) -> environ.Env:
    for name in (
        "EVIDENCE_STORAGE_BACKEND",
        "EVIDENCE_S3_BUCKET",
        "EVIDENCE_S3_ENDPOINT_URL",
        "EVIDENCE_S3_REGION",
        "EVIDENCE_S3_ACCESS_KEY_ID",
        "EVIDENCE_S3_SECRET_ACCESS_KEY",
        "EVIDENCE_S3_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return environ.Env()


def test_evidence_is_kept_in_local_files_by_default(monkeypatch: Any, tmp_path: Any) -> None:
    entry = evidence_storage_from_env(_env(monkeypatch), tmp_path)
    assert entry["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert entry["OPTIONS"]["location"] == str(tmp_path / "dispute-evidence")
    assert entry["OPTIONS"]["base_url"] is None


def test_an_s3_compatible_store_is_chosen_with_its_endpoint_bucket_and_keys(
    monkeypatch: Any, tmp_path: Any, settings: Any
) -> None:
    endpoint = "https://0123456789abcdef.r2.cloudflarestorage.com"
    entry = evidence_storage_from_env(
        _env(
            monkeypatch,
            EVIDENCE_STORAGE_BACKEND="s3",
            EVIDENCE_S3_BUCKET="switchboard-evidence",
            EVIDENCE_S3_ENDPOINT_URL=endpoint,
            EVIDENCE_S3_REGION="auto",
            EVIDENCE_S3_ACCESS_KEY_ID="test-access-key",
            EVIDENCE_S3_SECRET_ACCESS_KEY="test-secret-key",
        ),
        tmp_path,
    )
    settings.STORAGES = {**settings.STORAGES, "evidence": entry}

    from storages.backends.s3 import S3Storage

    storage = storages["evidence"]
    assert isinstance(storage, S3Storage)
    assert storage.bucket_name == "switchboard-evidence"
    assert storage.endpoint_url == endpoint
    assert storage.default_acl is None and storage.querystring_auth is True
    assert storage.file_overwrite is False
    # The boto3 client talks to the configured endpoint (R2 here), not to AWS.
    assert storage.connection.meta.client.meta.endpoint_url == endpoint
    # The models' storage follows the setting.
    assert isinstance(EvidenceDocument._meta.get_field("file").storage, S3Storage)
    assert evidence_storage().bucket_name == "switchboard-evidence"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"EVIDENCE_STORAGE_BACKEND": "ftp"}, "must be one of"),
        ({"EVIDENCE_STORAGE_BACKEND": "s3"}, "EVIDENCE_S3_BUCKET"),
    ],
)
def test_an_unknown_backend_or_s3_without_a_bucket_is_refused(
    monkeypatch: Any, tmp_path: Any, values: dict[str, str], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        evidence_storage_from_env(_env(monkeypatch, **values), tmp_path)


def test_documents_follow_the_evidence_storage_setting(evidence_files: Any) -> None:
    storage = EvidenceDocument._meta.get_field("file").storage
    assert isinstance(storage, FileSystemStorage)
    assert storage.location == str(evidence_files)
    name = storage.save("probe.pdf", io.BytesIO(PDF))
    assert (evidence_files / name).read_bytes() == PDF


def test_finance_downloads_a_document_from_the_storage_and_support_cannot(
    client: Any, finance_user: Any
) -> None:
    from django.urls import reverse

    from accounts.access.roles import sync_roles
    from tests.factories import make_staff

    sync_roles()
    dispute = Dispute.objects.create(
        payment=make_paid_payment(amount=1_000),
        provider="stripe",
        provider_dispute_id="dp_download",
        amount=1_000,
        currency="BRL",
        opened_at=timezone.now(),
    )
    document = _document(_evidence(dispute), PDF, DocumentKind.RECEIPT, "nota fiscal.pdf")
    url = reverse("admin:payments_disputeevidence_document", args=[document.pk])

    client.force_login(finance_user)
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert 'attachment; filename="nota fiscal.pdf"' in response["Content-Disposition"]
    # The evidence page names the file and links only to this download, not to the storage.
    page = client.get(reverse("admin:payments_disputeevidence_change", args=[document.evidence_id]))
    assert url in page.content.decode() and document.file.url not in page.content.decode()

    client.force_login(make_staff("support_dl", role="support"))
    assert client.get(url).status_code == 403
