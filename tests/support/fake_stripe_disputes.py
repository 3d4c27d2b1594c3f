"""The fake Stripe's disputes and file uploads, as the API documents them.

* ``add_dispute()`` opens a dispute on a paid intent as Stripe does: ``status``
  ``needs_response``, ``evidence_details`` (``due_by``, ``has_evidence``, ``past_due``,
  ``submission_count``), and the balance transaction that withdraws the amount plus Stripe's
  dispute fee (``fee`` 1500, ``reporting_category`` ``dispute``).
* ``POST /v1/files`` only on the files host (``files_url``; Stripe's files.stripe.com), multipart
  with ``file`` and ``purpose``; for ``dispute_evidence`` only PDF, JPEG or PNG (by content) of at
  most 5 MB, as the file upload guide says. ``GET /v1/files/{id}`` on either host.
* ``POST /v1/disputes/{id}``: ``evidence[<field>]`` (only the evidence object's fields; a file
  field must name an uploaded ``dispute_evidence`` file), ``metadata[...]``, ``submit``. Refused
  (400) like Stripe: an unknown parameter, a dispute no longer ``needs_response`` /
  ``warning_needs_response`` (already submitted or closed), one past its ``due_by``, more than
  150,000 characters of text. ``submit=true`` moves it to ``under_review``.
* ``GET /v1/disputes/{id}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.multipart import Upload

EVIDENCE_TEXT_FIELDS = frozenset(
    {
        "access_activity_log",
        "billing_address",
        "cancellation_policy_disclosure",
        "cancellation_rebuttal",
        "customer_email_address",
        "customer_name",
        "customer_purchase_ip",
        "duplicate_charge_explanation",
        "duplicate_charge_id",
        "product_description",
        "refund_policy_disclosure",
        "refund_refusal_explanation",
        "service_date",
        "shipping_address",
        "shipping_carrier",
        "shipping_date",
        "shipping_tracking_number",
        "uncategorized_text",
    }
)
EVIDENCE_FILE_FIELDS = frozenset(
    {
        "cancellation_policy",
        "customer_communication",
        "customer_signature",
        "duplicate_charge_documentation",
        "receipt",
        "refund_policy",
        "service_documentation",
        "shipping_documentation",
        "uncategorized_file",
    }
)
FILE_PURPOSES = frozenset(
    {
        "account_requirement",
        "additional_verification",
        "business_icon",
        "business_logo",
        "customer_signature",
        "dispute_evidence",
        "identity_document",
        "pci_document",
        "tax_document_user_upload",
    }
)
EVIDENCE_MAX_BYTES = 5 * 1024 * 1024
EVIDENCE_MAX_TEXT = 150_000
DISPUTE_FEE = 1500
TAKES_EVIDENCE = frozenset({"needs_response", "warning_needs_response"})
SNIFF = ((b"%PDF-", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"))


@dataclass
class StripeDisputesMixin:
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_contents: dict[str, bytes] = field(default_factory=dict)
    files_url: str = ""

    def add_dispute(
        self,
        intent_id: str,
        *,
        amount: int | None = None,
        reason: str = "fraudulent",
        due_by: int | None = None,
        status: str = "needs_response",
    ) -> dict[str, Any]:
        """A dispute on the intent's charge, its funds withdrawn with Stripe's dispute fee."""
        with self.lock:  # type: ignore[attr-defined]
            intent = self.intents[intent_id]  # type: ignore[attr-defined]
            disputed = intent["amount"] if amount is None else amount
            created = int(time.time())
            txn = self.add_balance_transaction(  # type: ignore[attr-defined]
                "adjustment",
                -disputed,
                fee=DISPUTE_FEE,
                currency=intent["currency"],
                reporting_category="dispute",
            )
            txn["fee_details"] = [
                {"amount": DISPUTE_FEE, "currency": intent["currency"], "type": "stripe_fee"}
            ]
            dispute: dict[str, Any] = {
                "id": self._next_id("dp"),  # type: ignore[attr-defined]
                "object": "dispute",
                "amount": disputed,
                "currency": intent["currency"],
                "charge": intent.get("latest_charge"),
                "payment_intent": intent_id,
                "reason": reason,
                "status": status,
                "created": created,
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "balance_transactions": [txn],
                "evidence": dict.fromkeys(EVIDENCE_TEXT_FIELDS | EVIDENCE_FILE_FIELDS),
                "evidence_details": {
                    "due_by": due_by if due_by is not None else created + 7 * 86_400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
            }
            txn["source"] = dispute["id"]
            self.balance_transactions[txn["id"]]["source"] = dispute["id"]  # type: ignore[attr-defined]
            self.disputes[dispute["id"]] = dispute
            return dispute

    def _dispute_route(
        self, method: str, parts: list[str], form: dict[str, str], uploads: dict[str, Upload]
    ) -> tuple[Any, bool] | None:
        """The answer for the disputes and files endpoints on the API host, None for others."""
        from tests.support.fake_stripe import Answer, _error

        if parts[:2] == ["v1", "files"]:
            if method == "GET" and len(parts) == 3 and parts[2] in self.files:
                return Answer(200, dict(self.files[parts[2]])), False
            if method == "POST":
                # Uploads go to files.stripe.com; the API host does not take them.
                return _error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "Unrecognized request URL (POST: /v1/files). Files are uploaded to "
                    "files.stripe.com.",
                ), True
            return None
        if parts[:2] != ["v1", "disputes"] or len(parts) != 3:
            return None
        dispute = self.disputes.get(parts[2])
        if dispute is None:
            return _error(
                404, "invalid_request_error", "resource_missing", f"No such dispute: '{parts[2]}'"
            ), True
        if method == "GET":
            return Answer(200, dict(dispute)), False
        if method == "POST":
            return self._dispute_update(dispute, form, uploads)
        return None

    def _dispute_update(
        self, dispute: dict[str, Any], form: dict[str, str], uploads: dict[str, Upload]
    ) -> tuple[Any, bool]:
        from tests.support.fake_stripe import Answer, _error

        evidence: dict[str, str] = {}
        for key, value in form.items():
            if key.startswith("evidence[") and key.endswith("]"):
                name = key[len("evidence[") : -1]
                if name not in EVIDENCE_TEXT_FIELDS | EVIDENCE_FILE_FIELDS:
                    return _error(
                        400,
                        "invalid_request_error",
                        "parameter_unknown",
                        f"Received unknown parameter: {key}",
                    ), True
                evidence[name] = value
            elif key not in ("submit", "expand[]") and not key.startswith("metadata["):
                return _error(
                    400,
                    "invalid_request_error",
                    "parameter_unknown",
                    f"Received unknown parameter: {key}",
                ), True
        if uploads:
            return _error(
                400, "invalid_request_error", "parameter_invalid", "Files are not taken here."
            ), True
        for name in EVIDENCE_FILE_FIELDS & set(evidence):
            uploaded = self.files.get(evidence[name])
            if uploaded is None or uploaded["purpose"] != "dispute_evidence":
                return _error(
                    400,
                    "invalid_request_error",
                    "resource_missing",
                    f"No such file upload: '{evidence[name]}'",
                ), True
        text = sum(len(v) for k, v in evidence.items() if k in EVIDENCE_TEXT_FIELDS)
        if text > EVIDENCE_MAX_TEXT:
            return _error(
                400,
                "invalid_request_error",
                "parameter_invalid",
                "The evidence exceeds 150000 characters.",
            ), True
        details = dispute["evidence_details"]
        if dispute["status"] not in TAKES_EVIDENCE:
            return _error(
                400,
                "invalid_request_error",
                "",
                f"This dispute is {dispute['status']} and can no longer be updated.",
            ), False
        if time.time() > details["due_by"]:
            details["past_due"] = True
            return _error(
                400,
                "invalid_request_error",
                "",
                "The evidence for this dispute was due and can no longer be submitted.",
            ), False
        dispute["evidence"].update(evidence)
        details["has_evidence"] = any(v for v in dispute["evidence"].values())
        if form.get("submit") == "true":
            details["submission_count"] += 1
            dispute["status"] = (
                "warning_under_review"
                if dispute["status"] == "warning_needs_response"
                else "under_review"
            )
        return Answer(200, dict(dispute)), False

    def _files_route(
        self, method: str, parts: list[str], form: dict[str, str], uploads: dict[str, Upload]
    ) -> tuple[Any, bool]:
        """The files host: ``POST /v1/files`` and ``GET /v1/files/{id}``, nothing else."""
        from tests.support.fake_stripe import Answer, _error

        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "files"]:
            found = self.files.get(parts[2])
            if found is not None:
                return Answer(200, dict(found)), False
        if method != "POST" or parts != ["v1", "files"]:
            return _error(
                404, "invalid_request_error", "resource_missing", "Unrecognized request URL"
            ), True
        purpose = form.get("purpose", "")
        upload = uploads.get("file")
        if upload is None:
            return _error(
                400, "invalid_request_error", "parameter_missing", "Missing required param: file."
            ), True
        if purpose not in FILE_PURPOSES:
            return _error(
                400,
                "invalid_request_error",
                "parameter_invalid_string" if purpose else "parameter_missing",
                f"Invalid purpose: {purpose!r}",
            ), True
        kind = next((k for magic, k in SNIFF if upload.content.startswith(magic)), "")
        if purpose == "dispute_evidence" and not kind:
            return _error(
                400,
                "invalid_request_error",
                "file_invalid",
                "File type not supported for purpose dispute_evidence: use PDF, JPEG or PNG.",
            ), True
        if purpose == "dispute_evidence" and len(upload.content) > EVIDENCE_MAX_BYTES:
            return _error(
                400,
                "invalid_request_error",
                "file_too_large",
                "Files for purpose dispute_evidence may be at most 5MB.",
            ), True
        created = int(time.time())
        uploaded: dict[str, Any] = {
            "id": self._next_id("file"),  # type: ignore[attr-defined]
            "object": "file",
            "created": created,
            "expires_at": created + 270 * 86_400,
            "filename": upload.filename,
            "purpose": purpose,
            "size": len(upload.content),
            "title": None,
            "type": kind,
            "url": None,
        }
        self.files[uploaded["id"]] = uploaded
        self.file_contents[uploaded["id"]] = upload.content
        return Answer(200, dict(uploaded)), False
