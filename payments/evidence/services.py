"""Writes on dispute evidence: claiming it for a submission, and recording what came of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.access.audit import audit_record
from integrations.events import record_event
from payments.evidence.models import DisputeEvidence, EvidenceDocument, EvidenceStatus
from payments.exceptions import EvidenceDeadlinePassed, EvidenceNotAllowed
from payments.models import DisputeStatus

log = structlog.get_logger(__name__)

# A submission that crashed half-way may be claimed again after this long.
STALE_CLAIM = timedelta(minutes=15)
CLAIMABLE = (EvidenceStatus.DRAFT, EvidenceStatus.FAILED)


def evidence_check_submittable(evidence: DisputeEvidence, *, now: Any = None) -> None:
    """Raise EvidenceNotAllowed (or EvidenceDeadlinePassed) when this evidence cannot go to the
    provider now: submitted already, a dispute that no longer takes evidence, past its
    deadline."""
    dispute = evidence.dispute
    now = now or timezone.now()
    if evidence.status == EvidenceStatus.SUBMITTED:
        raise EvidenceNotAllowed(f"The evidence for {dispute} was submitted already.")
    if dispute.status != DisputeStatus.NEEDS_RESPONSE:
        raise EvidenceNotAllowed(
            f"{dispute} is {dispute.get_status_display().lower()}: it takes no evidence now."
        )
    if dispute.evidence_due_by is not None and now >= dispute.evidence_due_by:
        due = dispute.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC")
        raise EvidenceDeadlinePassed(f"The evidence for {dispute} was due {due}.")


def evidence_claim(*, evidence: DisputeEvidence) -> DisputeEvidence:
    """Mark the evidence as being submitted, so a second click or worker does not send it
    twice. Raises EvidenceNotAllowed when it cannot be submitted or another submission holds
    it (one that crashed is released after ``STALE_CLAIM``)."""
    now = timezone.now()
    with transaction.atomic():
        evidence = (
            DisputeEvidence.objects.select_for_update(of=("self",))
            .select_related("dispute__payment__order")
            .get(pk=evidence.pk)
        )
        evidence_check_submittable(evidence, now=now)
        if evidence.status == EvidenceStatus.SUBMITTING and evidence.updated_at > now - STALE_CLAIM:
            raise EvidenceNotAllowed(f"The evidence for {evidence.dispute} is being submitted.")
        evidence.status = EvidenceStatus.SUBMITTING
        evidence.last_error = ""
        evidence.save(update_fields=["status", "last_error", "updated_at"])
    return evidence


def evidence_document_uploaded(*, document: EvidenceDocument, provider_file_id: str) -> None:
    """Keep the provider's id of an uploaded document: it is not uploaded again."""
    EvidenceDocument.objects.filter(pk=document.pk).update(provider_file_id=provider_file_id)
    document.provider_file_id = provider_file_id


def evidence_mark_submitted(
    *,
    evidence: DisputeEvidence,
    user: AbstractBaseUser | None,
    response: dict[str, Any],
    documents: int,
) -> DisputeEvidence:
    """The provider took the evidence: ``submitted`` (final), the event
    ``dispute.evidence_submitted`` on the customer's timeline, an audit entry."""
    with transaction.atomic():
        evidence = DisputeEvidence.objects.select_for_update(of=("self",)).get(pk=evidence.pk)
        dispute = evidence.dispute
        order = dispute.payment.order
        evidence.status = EvidenceStatus.SUBMITTED
        evidence.submitted_at = timezone.now()
        evidence.submitted_by_id = user.pk if user is not None else None
        evidence.provider_response = response
        evidence.last_error = ""
        evidence.save(
            update_fields=[
                "status",
                "submitted_at",
                "submitted_by",
                "provider_response",
                "last_error",
                "updated_at",
            ]
        )
        record_event(
            type="dispute.evidence_submitted",
            customer=order.customer,
            subject=dispute,
            actor=user,
            data={
                "dispute": dispute.provider_dispute_id,
                "order": order.number,
                "provider": dispute.provider,
                "documents": documents,
            },
        )
        audit_record(
            action="dispute_evidence_submitted",
            actor=user,
            obj=evidence,
            changes={"status": [EvidenceStatus.SUBMITTING, EvidenceStatus.SUBMITTED]},
            summary=f"{dispute} to {dispute.provider} with {documents} documents",
        )
    log.info("dispute.evidence_submitted", dispute_id=dispute.pk, provider=dispute.provider)
    return evidence


def evidence_mark_failed(*, evidence: DisputeEvidence, error: str) -> DisputeEvidence:
    """The submission did not go through (refused, or the provider was unavailable): ``failed``
    with the error; it may be corrected and submitted again."""
    DisputeEvidence.objects.filter(pk=evidence.pk).update(
        status=EvidenceStatus.FAILED, last_error=error[:1000], updated_at=timezone.now()
    )
    evidence.refresh_from_db()
    log.warning("dispute.evidence_failed", evidence_id=evidence.pk, error=error[:200])
    return evidence
