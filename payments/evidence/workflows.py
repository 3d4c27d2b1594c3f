"""Submitting a dispute's evidence to its provider (calls providers: never inside a transaction).

Stripe: each document goes up through the Files API (``files.stripe.com``, purpose
``dispute_evidence``; its ``file_...`` id kept, so a retry does not upload it again), then
``POST /v1/disputes/{id}`` with ``evidence[...]`` (text fields, and the file ids in the file
fields) and ``submit=true``. Idempotency keys come from our rows and what is sent, so a retry of
the same evidence is answered from Stripe's replay, and corrected evidence is a new request.

Asaas: ``POST /v3/chargebacks/{id}/dispute`` with the documents as multipart ``files`` (1 to 11;
Asaas takes no text). Asaas documents no idempotency key: the call is sent once (no automatic
retry), and before a retry after a failure the charge is read back: a chargeback already
``IN_DISPUTE`` means the earlier attempt went through.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from payments.evidence.files import MAX_ASAAS_FILES
from payments.evidence.models import (
    STRIPE_MAX_TEXT,
    DisputeEvidence,
    EvidenceDocument,
    EvidenceStatus,
)
from payments.evidence.services import (
    evidence_check_submittable,
    evidence_claim,
    evidence_document_uploaded,
    evidence_mark_failed,
    evidence_mark_submitted,
)
from payments.exceptions import EvidenceNotAllowed

PROVIDERS = ("stripe", "asaas")


def evidence_provider_check(evidence: DisputeEvidence) -> list[EvidenceDocument]:
    """The documents to send. Raises EvidenceNotAllowed when the provider does not take this
    evidence: a provider we do not submit to, nothing to submit, two documents for one Stripe
    file field, too much text for Stripe, no documents or more than 11 for Asaas."""
    provider = evidence.dispute.provider
    documents = list(evidence.documents.order_by("uploaded_at", "id"))
    if provider not in PROVIDERS:
        raise EvidenceNotAllowed(f"{provider} takes no dispute evidence through Switchboard.")
    if provider == "stripe":
        text = evidence.text_fields()
        if not text and not documents:
            raise EvidenceNotAllowed("There is no evidence to submit: fill a field or add a file.")
        kinds = [d.kind for d in documents]
        doubled = sorted({k for k in kinds if kinds.count(k) > 1})
        if doubled:
            raise EvidenceNotAllowed(
                f"Stripe takes one file per kind; there are several for: {', '.join(doubled)}."
            )
        if sum(len(v) for v in text.values()) > STRIPE_MAX_TEXT:
            raise EvidenceNotAllowed("Stripe takes at most 150,000 characters of evidence text.")
    else:
        if not documents:
            raise EvidenceNotAllowed("Asaas takes documents only: add at least one file.")
        if len(documents) > MAX_ASAAS_FILES:
            raise EvidenceNotAllowed(f"Asaas takes at most {MAX_ASAAS_FILES} files.")
    return documents


def dispute_evidence_submit(
    *, evidence_id: int | str, user: AbstractBaseUser | None = None
) -> DisputeEvidence:
    """Send the evidence to the dispute's provider and record the outcome: ``submitted``, or
    ``failed`` with the provider's refusal or unavailability (correct it and submit again).

    Raises EvidenceNotAllowed (EvidenceDeadlinePassed) before anything is sent when the dispute
    takes no evidence now, its deadline passed, it was submitted already (or is being
    submitted), or the provider would not take it."""
    evidence = DisputeEvidence.objects.select_related("dispute__payment__order").get(pk=evidence_id)
    evidence_check_submittable(evidence)
    documents = evidence_provider_check(evidence)
    retried = evidence.status == EvidenceStatus.FAILED
    evidence = evidence_claim(evidence=evidence)
    try:
        if evidence.dispute.provider == "stripe":
            response = _submit_to_stripe(evidence, documents)
        else:
            response = _submit_to_asaas(evidence, documents, retried=retried)
    except ProviderRejected as exc:
        return evidence_mark_failed(evidence=evidence, error=f"Refused: {exc}")
    except ProviderUnavailable as exc:
        return evidence_mark_failed(
            evidence=evidence, error=f"Provider unavailable, submit again later: {exc}"
        )
    except BaseException:
        evidence_mark_failed(evidence=evidence, error="Interrupted; submit again.")
        raise
    return evidence_mark_submitted(
        evidence=evidence, user=user, response=response, documents=len(documents)
    )


def _read(document: EvidenceDocument) -> bytes:
    with document.file.open("rb") as handle:
        content: bytes = handle.read()
    return content


def _submit_to_stripe(
    evidence: DisputeEvidence, documents: list[EvidenceDocument]
) -> dict[str, Any]:
    from payments.providers.stripe.client import StripeGateway

    gateway = StripeGateway.from_settings()
    dispute = evidence.dispute
    fields: dict[str, str] = dict(evidence.text_fields())
    for document in documents:
        if not document.provider_file_id:
            file_id = gateway.upload_evidence_file(
                content=_read(document),
                filename=document.original_name or document.file.name.rsplit("/", 1)[-1],
                idempotency_key=f"evidence-file:{document.pk}",
                subject=dispute,
            )
            evidence_document_uploaded(document=document, provider_file_id=file_id)
        fields[document.kind] = document.provider_file_id
    digest = hashlib.sha256(json.dumps(sorted(fields.items())).encode()).hexdigest()[:16]
    answer = gateway.submit_dispute_evidence(
        dispute_id=dispute.provider_dispute_id,
        evidence=fields,
        idempotency_key=f"dispute-evidence:{evidence.pk}:{digest}",
        subject=dispute,
    )
    details = answer.get("evidence_details") or {}
    return {
        "id": answer.get("id"),
        "status": answer.get("status"),
        "submission_count": details.get("submission_count"),
        "files": {d.kind: d.provider_file_id for d in documents},
    }


def _submit_to_asaas(
    evidence: DisputeEvidence, documents: list[EvidenceDocument], *, retried: bool
) -> dict[str, Any]:
    from payments.providers.asaas.client import AsaasClient

    dispute = evidence.dispute
    payment_id = dispute.payment.provider_payment_id or dispute.provider_dispute_id.split(":")[0]
    client = AsaasClient(max_attempts=1)
    if retried:
        charge = client.get_payment(payment_id, subject=dispute)
        chargeback = charge.get("chargeback") or {}
        if chargeback.get("status") == "IN_DISPUTE":
            return {"status": "IN_DISPUTE", "payment": payment_id, "found_on_retry": True}
    files = [
        (d.original_name or d.file.name.rsplit("/", 1)[-1], _read(d), d.content_type)
        for d in documents
    ]
    answer = client.chargeback_dispute(
        payment_id,
        files=files,
        idempotency_key=f"dispute-evidence:{evidence.pk}",
        subject=dispute,
    )
    return {"status": answer.get("status"), "payment": payment_id}
