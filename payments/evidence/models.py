"""Evidence for a dispute: Stripe's evidence fields we support, the documents (on the configured
evidence storage) and what happened when it was submitted; and the deadline reminders sent."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from payments.evidence.storage import evidence_storage

# Stripe's text evidence fields (the dispute evidence object), in the order the admin shows them.
STRIPE_TEXT_FIELDS: tuple[str, ...] = (
    "product_description",
    "customer_name",
    "customer_email_address",
    "customer_purchase_ip",
    "billing_address",
    "shipping_address",
    "shipping_carrier",
    "shipping_tracking_number",
    "shipping_date",
    "service_date",
    "access_activity_log",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "uncategorized_text",
)
# Stripe caps the text of all evidence fields together at 150,000 characters.
STRIPE_MAX_TEXT = 150_000


class EvidenceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTING = "submitting", "Being submitted"
    SUBMITTED = "submitted", "Submitted"
    FAILED = "failed", "Submission failed"


class DocumentKind(models.TextChoices):
    """Stripe's file evidence fields (each takes one uploaded file's id); Asaas takes the files
    whatever their kind."""

    RECEIPT = "receipt", "Receipt"
    CUSTOMER_COMMUNICATION = "customer_communication", "Customer communication"
    CUSTOMER_SIGNATURE = "customer_signature", "Customer signature"
    SHIPPING_DOCUMENTATION = "shipping_documentation", "Shipping documentation"
    SERVICE_DOCUMENTATION = "service_documentation", "Service documentation"
    REFUND_POLICY = "refund_policy", "Refund policy"
    CANCELLATION_POLICY = "cancellation_policy", "Cancellation policy"
    DUPLICATE_CHARGE_DOCUMENTATION = "duplicate_charge_documentation", "Duplicate charge proof"
    UNCATEGORIZED_FILE = "uncategorized_file", "Other document"


class DisputeEvidence(models.Model):
    """What finance answers a dispute with; one per dispute. Submitted once (the provider takes
    one submission): a failed submission may be retried, a submitted one is final."""

    dispute = models.OneToOneField(
        "payments.Dispute", on_delete=models.PROTECT, related_name="evidence"
    )
    product_description = models.TextField(
        blank=True, help_text="What was sold: the product or service, as the customer saw it."
    )
    customer_name = models.CharField(max_length=200, blank=True)
    customer_email_address = models.EmailField(blank=True)
    customer_purchase_ip = models.CharField(
        max_length=45, blank=True, help_text="The IP address the purchase was made from."
    )
    billing_address = models.TextField(blank=True)
    shipping_address = models.TextField(blank=True)
    shipping_carrier = models.CharField(max_length=100, blank=True)
    shipping_tracking_number = models.CharField(max_length=100, blank=True)
    shipping_date = models.CharField(
        max_length=30, blank=True, help_text="When it shipped, e.g. 2026-05-28."
    )
    service_date = models.CharField(
        max_length=30, blank=True, help_text="When the service was given, e.g. 2026-05-28."
    )
    access_activity_log = models.TextField(
        blank=True, help_text="Logs showing the customer used the digital product or service."
    )
    refund_policy_disclosure = models.TextField(
        blank=True, help_text="How and when the customer was shown the refund policy."
    )
    refund_refusal_explanation = models.TextField(
        blank=True, help_text="Why the customer is not entitled to a refund."
    )
    cancellation_policy_disclosure = models.TextField(blank=True)
    cancellation_rebuttal = models.TextField(
        blank=True, help_text="Why the customer's subscription was not cancelled."
    )
    duplicate_charge_explanation = models.TextField(blank=True)
    duplicate_charge_id = models.CharField(
        max_length=100, blank=True, help_text="The other charge's id (ch_...), if it is not one."
    )
    uncategorized_text = models.TextField(blank=True, help_text="Anything else for the case.")
    status = models.CharField(
        max_length=12, choices=EvidenceStatus.choices, default=EvidenceStatus.DRAFT
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    provider_response = models.JSONField(
        default=dict, blank=True, help_text="What the provider answered the submission with."
    )
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "dispute evidence"
        verbose_name_plural = "dispute evidence"
        permissions = [
            ("submit_disputeevidence", "Can submit dispute evidence to the provider"),
        ]
        indexes = [models.Index(fields=["status"], name="evidence_status")]

    def __str__(self) -> str:
        return f"Evidence for {self.dispute}"

    def text_fields(self) -> dict[str, str]:
        """Stripe's text evidence fields that have a value."""
        values = {name: str(getattr(self, name) or "").strip() for name in STRIPE_TEXT_FIELDS}
        return {name: value for name, value in values.items() if value}


def _upload_to(instance: EvidenceDocument, filename: str) -> str:
    # The name finance's file had is kept on the row; the stored name says nothing about it.
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"dispute-{instance.evidence.dispute_id}/{uuid.uuid4().hex}.{extension[:5]}"


class EvidenceDocument(models.Model):
    """One document of a dispute's evidence, stored on ``STORAGES["evidence"]``."""

    evidence = models.ForeignKey(
        DisputeEvidence, on_delete=models.CASCADE, related_name="documents"
    )
    kind = models.CharField(
        max_length=40, choices=DocumentKind.choices, default=DocumentKind.UNCATEGORIZED_FILE
    )
    file = models.FileField(storage=evidence_storage, upload_to=_upload_to, max_length=255)
    original_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveIntegerField(default=0, help_text="Bytes.")
    content_type = models.CharField(max_length=40, blank=True)
    provider_file_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="The provider's id once uploaded (Stripe file_...): not uploaded again.",
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name or self.file.name


class EvidenceReminder(models.Model):
    """A reminder sent to finance that a dispute's evidence is due in ``days_before`` days; one
    per dispute and number of days, whatever runs the job."""

    dispute = models.ForeignKey(
        "payments.Dispute", on_delete=models.CASCADE, related_name="evidence_reminders"
    )
    days_before = models.PositiveSmallIntegerField()
    due_by = models.DateTimeField(help_text="The deadline the reminder was about.")
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dispute", "days_before"], name="evidence_reminder_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dispute}: {self.days_before} days before"
