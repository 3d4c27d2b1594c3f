from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse

from accounts.validators import validate_e164, validate_tax_document


class User(AbstractUser):
    """Staff member. Roles are Django groups (see ``accounts.roles``)."""


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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(Lower("email"), name="customer_email_lower"),
            models.Index(fields=["phone"], name="customer_phone"),
            models.Index(fields=["tax_document"], name="customer_tax_document"),
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
    """A hashed API key (see ``accounts.api_keys``); the raw key is shown once, never stored."""

    class Scope(models.TextChoices):
        ORDERS_READ = "orders:read", "Read orders"
        ORDERS_WRITE = "orders:write", "Place orders"
        USAGE_WRITE = "usage:write", "Send product usage"
        CUSTOMERS_READ = "customers:read", "Read customers and timelines"

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
