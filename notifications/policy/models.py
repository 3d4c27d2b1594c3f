"""The send policy's own rows: preferences (a ledger), the rate limit's charges, the customer's
inbound WhatsApp messages (the 24-hour window) and the registry of approved WhatsApp templates.

None of them has a uniqueness rule on the customer, and each has a named reverse relation:
``customer_merge`` re-points every row of a duplicate at the customer kept (through
``Customer._meta.related_objects``, which leaves out ``related_name="+"``), so two customers'
rows must be able to live side by side.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Customer
from integrations.models.core import AppendOnlyModel
from notifications.models import MessageCategory, NotificationChannel


class NotificationPreference(AppendOnlyModel):
    """One decision of a customer (told to staff, or through the API) about one channel for one
    category of message: ``allowed`` or not. Append-only: the newest row of a (customer,
    category, channel) is the current preference; no row means allowed. Transactional e-mail
    is always allowed, whatever a row says (the policy does not read it)."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="notification_preferences"
    )
    category = models.CharField(max_length=15, choices=MessageCategory.choices)
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    allowed = models.BooleanField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The staff member who recorded it, if one did.",
    )
    source = models.CharField(max_length=60, default="staff")
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-set_at", "-id"]
        indexes = [
            models.Index(
                fields=["customer", "category", "channel", "-set_at", "-id"],
                name="preference_current",
            )
        ]

    def __str__(self) -> str:
        word = "allowed" if self.allowed else "off"
        return f"{self.customer}: {self.category} by {self.channel} {word}"


class RateLimitCharge(models.Model):
    """One notification counted against its customer's rate limit: written under the customer's
    row lock when the policy lets it through, before the provider call, so two workers never
    both take the last slot. One per notification (a retry of the same send is not counted
    again)."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="rate_limit_charges"
    )
    notification = models.OneToOneField(
        "notifications.Notification", on_delete=models.CASCADE, related_name="rate_charge"
    )
    charged_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "-charged_at"], name="rate_charge_window")]

    def __str__(self) -> str:
        return f"{self.customer} charged at {self.charged_at:%Y-%m-%d %H:%M}"


class WhatsAppInbound(models.Model):
    """A WhatsApp message the customer sent us (Z-API ``ReceivedCallback``, Twilio inbound
    ``whatsapp:``): it opens WhatsApp's 24-hour customer-service window on that provider's
    number. Only the newest matters; older rows are kept for the record."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="whatsapp_inbound"
    )
    provider = models.CharField(max_length=30)
    phone = models.CharField(max_length=16, help_text="E.164.")
    message_id = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(help_text="When the customer sent it (UTC).")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "provider", "-received_at"], name="whatsapp_window")
        ]

    def __str__(self) -> str:
        return f"{self.phone} wrote on {self.provider} at {self.received_at:%Y-%m-%d %H:%M}"


class WhatsAppTemplate(models.Model):
    """A WhatsApp template WhatsApp approved for a provider's sender: the only thing sent to a
    customer outside the 24-hour window. ``key`` is our template key (``Notification.template``,
    e.g. order_paid), ``provider_template`` the provider's id for it (Twilio: the Content SID,
    HX...), ``variables`` the names filled into {{1}}, {{2}}, ... in order, and ``content`` the
    approved text (to show staff, and to recognise the message in the provider's list)."""

    key = models.CharField(max_length=60, help_text="Our template key, e.g. order_paid.")
    language = models.CharField(
        max_length=8,
        choices=[("pt-br", "Português (Brasil)"), ("en", "English")],
        help_text="The customer's language it is for.",
    )
    provider = models.CharField(
        max_length=30, choices=[("twilio", "Twilio")], help_text="Z-API sends no templates."
    )
    provider_template = models.CharField(
        "provider's template",
        max_length=64,
        help_text="Twilio: the Content SID (HX followed by 32 hex digits).",
    )
    variables = models.JSONField(
        default=list,
        blank=True,
        help_text="The variable names, in the order of {{1}}, {{2}}, ...",
    )
    content = models.TextField(
        blank=True, help_text="The approved text, with {{1}}, {{2}}, ... where the variables go."
    )
    approved = models.BooleanField(
        default=False, help_text="WhatsApp approved it: only approved templates are sent."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key", "language", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "language", "provider"], name="whatsapp_template_unique"
            )
        ]
        verbose_name = "WhatsApp template"

    def __str__(self) -> str:
        return f"{self.key} ({self.language}, {self.provider})"
