"""Refusals of the payments app (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import SwitchboardError


class PaymentNotAllowed(SwitchboardError):
    """A payment the order's state refuses (only a placed order takes one)."""

    code = "payment_not_allowed"
    http_status = 409
    title = "Payment not allowed"


class ProviderIdConflict(SwitchboardError):
    """Our payment already carries another provider id: never overwritten."""

    code = "provider_id_conflict"
    http_status = 409
    title = "Provider id conflict"


class RefundNotAllowed(SwitchboardError):
    """A refund request or decision the rules refuse (amount, currency, who decides)."""

    code = "refund_not_allowed"
    http_status = 422
    title = "Refund not allowed"


class RefundExceedsPayment(RefundNotAllowed):
    """A refund amount that is not positive or exceeds what the payment still has to refund
    (refunds already open count against it)."""

    code = "refund_exceeds_payment"
    title = "Refund exceeds the payment"


class SelfApprovalForbidden(RefundNotAllowed):
    """Nobody approves or rejects their own refund request."""

    code = "self_approval_forbidden"
    http_status = 403
    title = "Own refund request"


class ApprovalAlreadyGiven(RefundNotAllowed):
    """The same finance user approved this refund already; a second approval must come from
    someone else."""

    code = "approval_already_given"
    http_status = 409
    title = "Approval already given"


class ReconciliationNotAllowed(SwitchboardError):
    """A reconciliation exception that cannot be resolved (no note, already resolved)."""

    code = "reconciliation_not_allowed"
    http_status = 409
    title = "Reconciliation not allowed"


class ReauthenticationRequired(RefundNotAllowed):
    """Approving above the dual-approval threshold needs a re-authentication within
    ``SENSITIVE_ACTION_REAUTH_SECONDS``; none was given, or it is too old. Nothing was changed."""

    code = "reauthentication_required"
    http_status = 403
    title = "Re-authentication required"


class SplitNotAllowed(SwitchboardError):
    """Split parts the rules refuse: a part that is neither a positive fixed amount nor a
    percentage in (0, 100], a wallet twice, or parts that together exceed the amount they split
    (fixed amounts plus the percentages of the amount). Nothing was written."""

    code = "split_not_allowed"
    http_status = 422
    title = "Split not allowed"


class SettlementCsvInvalid(SwitchboardError):
    """A CSV statement with rows the column mapping cannot read: nothing of it is stored.
    ``errors`` names each problem with its row number (the header is row 1)."""

    code = "settlement_csv_invalid"
    http_status = 422
    title = "CSV statement refused"

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = "; ".join(errors[:10]) + (
            f"; and {len(errors) - 10} more" if len(errors) > 10 else ""
        )
        super().__init__(f"The CSV was not imported: {shown}")


class MatchNotAllowed(SwitchboardError):
    """A match the rules refuse: an item already in another match, nothing to match, or a match
    that is not there to undo. Nothing was written."""

    code = "match_not_allowed"
    http_status = 409
    title = "Match not allowed"


class WriteOffNeedsSecondApprover(ReconciliationNotAllowed):
    """A write-off above the approval threshold is approved or rejected by another finance user
    than the one who proposed it."""

    code = "write_off_needs_second_approver"
    http_status = 403
    title = "Own write-off proposal"


class WriteOffReauthenticationRequired(ReconciliationNotAllowed):
    """Approving a write-off above the approval threshold needs a re-authentication within
    ``SENSITIVE_ACTION_REAUTH_SECONDS``; none was given, or it is too old. Nothing was changed."""

    code = "write_off_reauthentication_required"
    http_status = 403
    title = "Re-authentication required"


class EvidenceNotAllowed(SwitchboardError):
    """Dispute evidence that cannot be submitted: the dispute no longer takes evidence (under
    review or decided), it was submitted already or is being submitted, the provider takes no
    evidence through us, or the evidence is not what the provider takes. Nothing was sent."""

    code = "evidence_not_allowed"
    http_status = 409
    title = "Evidence not allowed"


class EvidenceDeadlinePassed(EvidenceNotAllowed):
    """The dispute's evidence was due before now: the provider no longer takes it."""

    code = "evidence_deadline_passed"
    http_status = 422
    title = "Evidence deadline passed"
