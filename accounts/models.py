from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from accounts.customers.validators import (
    validate_e164,
    validate_tax_document,
    validate_time_zone,
)
from integrations.models.core import AppendOnlyModel, AppendOnlyQuerySet


class User(AbstractUser):
    """Staff member. Roles are Django groups (see ``accounts.access.roles``)."""


class SsoIdentity(models.Model):
    """The OIDC subject a staff user signs in as. SSO logins and bearer tokens find the user by
    ``(issuer, subject)``, stored at the first login; an e-mail address alone never does."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    issuer = models.CharField(max_length=255, help_text="The IdP's issuer (``iss``).")
    subject = models.CharField(
        max_length=255, help_text="The IdP's stable id of the person (``sub``)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    roles_stated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "Issue time of the newest IdP statement (ID or access token) that set this user's "
            "roles; a token issued earlier may take roles away, never add them."
        ),
    )

    class Meta:
        verbose_name = "SSO identity"
        verbose_name_plural = "SSO identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="sso_identity_subject_unique"
            ),
            models.UniqueConstraint(fields=["user", "issuer"], name="sso_identity_one_per_issuer"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class Customer(models.Model):
    class TaxDocumentType(models.TextChoices):
        CPF = "cpf", "CPF"
        CNPJ = "cnpj", "CNPJ"

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(
        max_length=16,
        blank=True,
        validators=[validate_e164],
        help_text="E.164, e.g. +5511987654321",
    )
    tax_document = models.CharField(
        max_length=14,
        blank=True,
        validators=[validate_tax_document],
        help_text="CPF (11 digits) or CNPJ (14 characters), without punctuation.",
    )
    tax_document_type = models.CharField(max_length=4, choices=TaxDocumentType.choices, blank=True)
    language = models.CharField(
        max_length=8,
        choices=[("pt-br", "Português (Brasil)"), ("en", "English")],
        blank=True,
        help_text="The language of the customer's messages; blank: CUSTOMER_DEFAULT_LANGUAGE.",
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA name (America/Sao_Paulo): quiet hours are the customer's local time; "
        "blank: CUSTOMER_DEFAULT_TIME_ZONE.",
    )
    quiet_hours_start = models.TimeField(
        null=True,
        blank=True,
        help_text="From this local time no message that can wait is sent; "
        "empty: NOTIFICATION_QUIET_HOURS.",
    )
    quiet_hours_end = models.TimeField(
        null=True, blank=True, help_text="Until this local time (the next morning, usually)."
    )
    plan_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="The plan a won CRM deal activated (docs/crm.md); blank: none yet.",
    )
    plan_activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        permissions = [("export_customer", "Can download a customer's data (support requests)")]
        indexes = [
            models.Index(Lower("email"), name="customer_email_lower"),
            models.Index(fields=["phone"], name="customer_phone"),
            models.Index(fields=["tax_document"], name="customer_tax_document"),
            # The changelist's default ordering, and the walk a partial-name search takes.
            models.Index(fields=["name", "id"], name="customer_name"),
        ]
        # One customer per e-mail (case-insensitively) and per CPF/CNPJ; blanks are not values.
        # Duplicates from before these existed are merged by ``manage.py merge_customers``.
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="customer_email_unique_ci",
                violation_error_code="duplicate_email",
                violation_error_message="A customer with this e-mail address already exists.",
            ),
            models.UniqueConstraint(
                fields=["tax_document"],
                condition=~models.Q(tax_document=""),
                name="customer_tax_document_unique",
                violation_error_code="duplicate_tax_document",
                violation_error_message="A customer with this CPF/CNPJ already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("admin:accounts_customer_change", args=[self.pk])


class CustomerIdentifier(models.Model):
    """An id this customer has in another system: a provider customer id, the CRM id."""

    class System(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        ASAAS = "asaas", "Asaas"
        HUBSPOT = "hubspot", "HubSpot"
        PRODUCT = "product", "Our product"
        SANDBOX = "sandbox", "Sandbox"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identifiers")
    system = models.CharField(max_length=20, choices=System.choices)
    external_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "external_id"], name="customer_identifier_unique"
            ),
        ]
        indexes = [models.Index(fields=["external_id"], name="customer_identifier_value")]

    def __str__(self) -> str:
        return f"{self.get_system_display()}: {self.external_id}"


class CustomerNote(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Note on {self.customer} by {self.author}"


class ApiKey(models.Model):
    """A hashed API key (see ``accounts.access.api_keys``); the raw key is shown once, never stored."""

    class Scope(models.TextChoices):
        ORDERS_READ = "orders:read", "Read orders"
        ORDERS_WRITE = "orders:write", "Place orders"
        USAGE_WRITE = "usage:write", "Send product usage"
        CUSTOMERS_READ = "customers:read", "Read customers and timelines"
        SHIPPING_QUOTE = "shipping:quote", "Quote shipping and choose an order's quote"

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'Storefront production'.")
    prefix = models.CharField(max_length=8, unique=True, help_text="Shown to tell keys apart.")
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (sbk_{self.prefix}_…)"


class AuditLogQuerySet(AppendOnlyQuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("AuditLogEntry rows are append-only.")


class AuditLogEntry(AppendOnlyModel):
    """Who did what to which object, from where: written by ``accounts.access.audit.audit_record``
    and never changed or deleted afterwards (the queryset and ``save``/``delete`` refuse)."""

    class Action(models.TextChoices):
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logout"
        PERMISSION_DENIED = "permission_denied", "Permission denied"
        ADMIN_ADD = "admin_add", "Admin: added"
        ADMIN_CHANGE = "admin_change", "Admin: changed"
        ADMIN_DELETE = "admin_delete", "Admin: deleted"
        EXPORT = "export", "Export"
        WEBHOOK_REPLAY = "webhook_replay", "Webhook replayed"
        REFUND_REQUESTED = "refund_requested", "Refund requested"
        REFUND_APPROVAL_ADDED = "refund_approval_added", "Refund approval added"
        REFUND_APPROVED = "refund_approved", "Refund approved"
        REFUND_REJECTED = "refund_rejected", "Refund rejected"
        API_KEY_CREATED = "api_key_created", "API key created"
        API_KEY_REVOKED = "api_key_revoked", "API key revoked"
        CUSTOMER_MERGED = "customer_merged", "Customers merged"
        SSO_ROLES_CHANGED = "sso_roles_changed", "Roles changed at SSO"
        SSO_IDENTITY_LINKED = "sso_identity_linked", "SSO identity linked"
        RECONCILIATION_RESOLVED = "reconciliation_resolved", "Reconciliation item resolved"
        RECONCILIATION_WRITE_OFF_PROPOSED = (
            "write_off_proposed",
            "Reconciliation write-off proposed",
        )
        RECONCILIATION_WRITE_OFF_APPROVED = (
            "write_off_approved",
            "Reconciliation write-off approved",
        )
        RECONCILIATION_WRITE_OFF_REJECTED = (
            "write_off_rejected",
            "Reconciliation write-off rejected",
        )
        SETTLEMENT_MATCHED = "settlement_matched", "Settlement matched by hand"
        SETTLEMENT_MATCH_UNDONE = "settlement_match_undone", "Settlement match undone"
        CIRCUIT_BREAKER_RESET = "circuit_breaker_reset", "Circuit breaker reset"
        DELIVERY_RETRIED = "delivery_retried", "Delivery retried"
        SHIPMENT_ALERT_HANDLED = "shipment_alert_handled", "Shipment alert handled"
        WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated", "Outbound webhook secret rotated"
        WEBHOOK_TEST_SENT = "webhook_test_sent", "Outbound webhook test sent"
        WEBHOOK_MESSAGE_RESENT = "webhook_message_resent", "Outbound webhook message resent"
        WEBHOOK_MESSAGES_RECOVERED = "webhook_messages_recovered", "Outbound webhooks recovered"
        DISPUTE_EVIDENCE_SUBMITTED = "dispute_evidence_submitted", "Dispute evidence submitted"

    created_at = models.DateTimeField(default=timezone.now, help_text="UTC.")
    action = models.CharField(max_length=32, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Staff user who acted; empty for anonymous requests and failed logins.",
    )
    actor_label = models.CharField(
        max_length=150,
        blank=True,
        help_text="Username (or the one tried on a failed login), 'system', 'api-key:<prefix>'.",
    )
    object_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="{field: [before, after]} where the values were captured. Never secrets.",
    )
    summary = models.CharField(
        max_length=500,
        blank=True,
        help_text="What happened in words: the admin's change message, the denied request.",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    objects: ClassVar[Any] = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["action", "-created_at", "-id"], name="audit_action_time_id"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["object_id"], name="audit_object_id"),
            models.Index(fields=["-created_at", "-id"], name="audit_time_id"),
            models.Index(fields=["actor_label"], name="audit_actor_label"),
        ]

    def __str__(self) -> str:
        who = self.actor_label or "anonymous"
        return f"{self.get_action_display()} by {who} #{self.pk}"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("AuditLogEntry rows are append-only.")


class CrmRecord(models.Model):
    """What the CRM says about a customer: the properties the CRM owns (owner, lifecycle stage,
    deal stage), written only from the CRM's webhooks and journal (docs/crm.md). ``watermarks``
    keeps, per property, the provider time of the change applied, so an older change arriving
    late never overwrites a newer one."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="crm_record")
    provider = models.CharField(max_length=20, default="hubspot")
    contact_id = models.CharField(max_length=100, help_text="The CRM's contact id.")
    owner_id = models.CharField(max_length=100, blank=True)
    lifecycle_stage = models.CharField(max_length=100, blank=True)
    deal_stage = models.CharField(max_length=100, blank=True)
    watermarks = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(
        null=True, blank=True, help_text="Last contact upsert or CRM change applied (UTC)."
    )

    class Meta:
        verbose_name = "CRM record"
        indexes = [models.Index(fields=["provider", "contact_id"], name="crm_record_contact")]

    def __str__(self) -> str:
        return f"{self.provider} contact {self.contact_id}"


class CrmContactSync(models.Model):
    """A pending contact upsert for a customer: one row per customer, however many changes came
    in (coalescing). Due ``due_at``; deleted once the CRM has the contact; an outage leaves it
    here with a later ``due_at`` and the error."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, related_name="crm_contact_sync"
    )
    requested_at = models.DateTimeField()
    due_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["due_at"], name="crm_contact_sync_due")]

    def __str__(self) -> str:
        return f"Contact sync for customer {self.customer_id}"


class CrmSyncState(models.Model):
    """Shared state of one CRM connection across workers: the Webhooks Journal offset to read
    from next, and the rate limiter's token bucket (tokens left at ``bucket_at``, unix seconds)."""

    provider = models.CharField(max_length=20, primary_key=True)
    journal_offset = models.CharField(max_length=100, blank=True)
    journal_read_at = models.DateTimeField(null=True, blank=True)
    bucket_tokens = models.FloatField(default=0)
    bucket_at = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.provider} sync state"


class CrmNote(models.Model):
    """A note sent to the CRM for a domain event: one per event, so a repeated delivery of the
    event does not add a second note."""

    event_id = models.BigIntegerField(unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="crm_notes")
    note_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"CRM note {self.note_id}"
