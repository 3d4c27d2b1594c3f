from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from accounts.models import Customer
from integrations.models.core import AppendOnlyModel
from integrations.transitions import Transitions
from notifications.rule_events import rule_event_type_choices
from orders.models import Order


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WHATSAPP = "whatsapp", "WhatsApp"
    SMS = "sms", "SMS"


class AttachmentKind(models.TextChoices):
    DOCUMENT = "document", "Document"
    IMAGE = "image", "Image"


class MessageCategory(models.TextChoices):
    """What a message is for: transactional messages (about an order the customer placed) are
    always allowed by e-mail; marketing ones never go out without an opt-in."""

    TRANSACTIONAL = "transactional", "Transactional"
    MARKETING = "marketing", "Marketing"


class FollowUpReason(models.TextChoices):
    """Why a notification was queued after another one (``Notification.previous``)."""

    FALLBACK = "fallback", "Fallback to the next channel"
    RESEND = "resend", "Resent by staff"


class Refusal(models.TextChoices):
    """Why the send policy refused a notification before any provider call (it is then failed,
    with this code and a sentence in ``error``). Quiet hours do not refuse: they defer
    (``send_after``)."""

    OPTED_OUT = "opted_out", "Customer opted out of the channel"
    PREFERENCE = "preference", "Customer's preference for this category"
    NO_OPT_IN = "no_opt_in", "Marketing without an opt-in"
    RATE_LIMITED = "rate_limited", "Too many messages to this customer"
    WHATSAPP_WINDOW = "whatsapp_window", "Outside WhatsApp's 24-hour window without a template"
    SUPPRESSED = "suppressed", "E-mail address suppressed"


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


N = NotificationStatus
NOTIFICATION_TRANSITIONS: Transitions = {
    N.QUEUED: frozenset({N.SENT, N.FAILED}),
    N.SENT: frozenset({N.DELIVERED, N.READ, N.FAILED}),
    N.DELIVERED: frozenset({N.READ}),
    N.READ: frozenset(),
    N.FAILED: frozenset(),
}


class Notification(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notifications")
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
        db_index=False,  # served by notification_order_created
        help_text="The order the message is about, if any (its page lists the message).",
    )
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    template = models.CharField(max_length=60, help_text="Template key, e.g. order_paid.")
    recipient = models.CharField(
        max_length=254, help_text="E-mail address, or phone in E.164 for WhatsApp and SMS."
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED
    )
    provider = models.CharField(
        max_length=30, blank=True, help_text="Registry name of the channel provider that sent it."
    )
    provider_message_id = models.CharField(
        max_length=100, blank=True, help_text="The provider's message id."
    )
    error = models.CharField(max_length=200, blank=True)
    dedupe_key = models.CharField(
        max_length=100,
        blank=True,
        help_text="Set by automatic sends (<event id>:<channel>): one message per key.",
    )
    category = models.CharField(
        max_length=15,
        choices=MessageCategory.choices,
        default=MessageCategory.TRANSACTIONAL,
        help_text="Transactional: about the customer's own order. Marketing: needs an opt-in.",
    )
    urgent = models.BooleanField(
        default=False, help_text="An urgent transactional message may go out in quiet hours."
    )
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="follow_ups",
        help_text="The notification this one follows (a fallback or a resend of it).",
    )
    previous_reason = models.CharField(max_length=10, choices=FollowUpReason.choices, blank=True)
    refusal = models.CharField(
        max_length=20,
        choices=Refusal.choices,
        blank=True,
        help_text="Set when the send policy refused the message before any provider call.",
    )
    send_after = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Deferred (quiet hours): not handed to the provider before this time (UTC).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    provider_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Watermark: the newest provider fact applied."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("resend_notification", "Can resend a notification to the customer"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="notification_customer_created"),
            models.Index(fields=["provider_message_id"], name="notification_provider_id"),
            # The changelist's ordering, and each of its filters followed by it.
            models.Index(fields=["-created_at", "-id"], name="notification_created"),
            models.Index(fields=["status", "-created_at", "-id"], name="notification_status_time"),
            models.Index(
                fields=["channel", "-created_at", "-id"], name="notification_channel_time"
            ),
            models.Index(fields=["recipient"], name="notification_recipient"),
            # The order page's messages, newest first.
            models.Index(fields=["order", "-created_at", "-id"], name="notification_order_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(previous__isnull=True, previous_reason="")
                | (models.Q(previous__isnull=False) & ~models.Q(previous_reason="")),
                name="notification_previous_has_reason",
            ),
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_dedupe_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"Notification #{self.pk} ({self.channel} {self.template} to {self.recipient})"

    def get_absolute_url(self) -> str:
        return reverse("admin:notifications_notification_change", args=[self.pk])


class SuppressionReason(models.TextChoices):
    BOUNCED = "bounced", "Hard bounce"
    COMPLAINED = "complained", "Spam complaint"
    MANUAL = "manual", "Added by staff"


class EmailSuppression(models.Model):
    """An e-mail address we must not write to: the ESP reported a hard bounce or a complaint.
    While active (``cleared_at`` empty) the e-mail channel refuses the address before any call;
    staff clear it in the admin (kept, with who and when, for the record). At most one active
    row per address."""

    address = models.EmailField(max_length=254, help_text="Lower-cased.")
    reason = models.CharField(max_length=12, choices=SuppressionReason.choices)
    detail = models.CharField(max_length=300, blank=True, help_text="The ESP's description.")
    provider = models.CharField(max_length=40, blank=True, help_text="The ESP that reported it.")
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["address"],
                condition=models.Q(cleared_at__isnull=True),
                name="email_suppression_one_active",
            )
        ]
        indexes = [models.Index(fields=["-created_at", "-id"], name="email_suppression_created")]

    def __str__(self) -> str:
        return f"{self.address} ({self.get_reason_display()})"

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class NotificationAttachment(models.Model):
    """The file sent with a notification (the boleto PDF, the Pix QR code). A row of its own: a
    data: URI can be megabytes, and notification lists and timelines never need it."""

    notification = models.OneToOneField(
        Notification, on_delete=models.CASCADE, primary_key=True, related_name="attachment"
    )
    kind = models.CharField(max_length=10, choices=AttachmentKind.choices)
    source = models.TextField(help_text="The file: an https:// URL or a data: URI (base64).")
    filename = models.CharField(
        max_length=200, blank=True, help_text="The file name the customer sees (documents)."
    )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.notification}"


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", "Opted in"
    OPT_OUT = "opt_out", "Opted out"


class ConsentRecord(AppendOnlyModel):
    """One consent decision of a customer about one channel: the ledger is append-only, the
    current state of a (customer, channel) is its newest row (``notifications.consent.selectors``).
    No row: nothing was said, and transactional messages go out."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="consents")
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    action = models.CharField(max_length=10, choices=ConsentAction.choices)
    source = models.CharField(
        max_length=60,
        help_text='Who or what said so: "twilio inbound STOP", "twilio 21610", "staff", "api".',
    )
    detail = models.CharField(
        max_length=200, blank=True, help_text="What was said (the inbound message's word)."
    )
    address = models.CharField(
        max_length=254, blank=True, help_text="The phone or e-mail the decision came from."
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The staff member who recorded it, if one did.",
    )
    occurred_at = models.DateTimeField(help_text="When the customer said so (UTC).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["customer", "channel", "-occurred_at", "-id"], name="consent_current"
            ),
            models.Index(fields=["-occurred_at", "-id"], name="consent_time"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.get_action_display().lower()} of {self.channel}"


class NotificationRule(models.Model):
    """Which domain event sends which message to the customer, on which channels in which order:
    data, edited in the admin (``notifications.rules`` renders and validates it).

    The texts are Django template strings over the event's typed payload fields (``{{ order }}``,
    ``{{ money }}``...), one subject and body per language. An event type may have several
    rules told apart by ``condition``; the first active one (by id) whose condition holds sends.
    The message goes on the first channel of ``channels`` the customer has an address for; when
    it fails, or is not delivered within ``fallback_minutes``, the next one is tried
    (``notifications.fallback``)."""

    event_type = models.CharField(
        max_length=60,
        choices=rule_event_type_choices,
        help_text="The domain event that sends the message.",
    )
    condition = models.CharField(
        max_length=200,
        blank=True,
        help_text="Optional: a Django {% if %} expression over the payload, e.g. "
        'method == "pix" or notify_customer. Blank: always.',
    )
    active = models.BooleanField(default=True)
    template = models.SlugField(
        max_length=60,
        unique=True,
        help_text="Template key (order_paid): names the message and the e-mail template.",
    )
    category = models.CharField(
        max_length=15, choices=MessageCategory.choices, default=MessageCategory.TRANSACTIONAL
    )
    urgent = models.BooleanField(
        default=False, help_text="An urgent transactional message may go out in quiet hours."
    )
    channels = models.CharField(
        max_length=60,
        default="whatsapp,sms,email",
        help_text="Channels in order of preference, comma-separated (whatsapp, sms, email): the "
        "first one the customer has an address for is used, the next ones are fallbacks.",
    )
    fallback_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
        help_text="How long to wait for a delivered status before trying the next channel.",
    )
    subject_pt_br = models.CharField("Subject (pt-BR)", max_length=1000, blank=True)
    body_pt_br = models.TextField("Body (pt-BR)")
    subject_en = models.CharField("Subject (en)", max_length=1000, blank=True)
    body_en = models.TextField("Body (en)")
    attachment_kind = models.CharField(
        max_length=10,
        choices=AttachmentKind.choices,
        blank=True,
        help_text="A file sent on channels that carry files (WhatsApp); blank: none.",
    )
    attachment_source = models.CharField(
        max_length=200,
        blank=True,
        help_text="Template giving the file: an https:// URL or a data: URI, e.g. "
        "{{ pix_qr_image }}. Rendering to nothing sends no file.",
    )
    attachment_filename = models.CharField(
        max_length=200, blank=True, help_text="Template giving the file name (documents)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event_type", "id"]
        indexes = [models.Index(fields=["event_type", "id"], name="notification_rule_event")]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.template}"

    @property
    def channel_list(self) -> list[str]:
        return [part.strip() for part in self.channels.split(",") if part.strip()]


# The send policy's rows live with the policy (notifications.policy); imported here so that
# Django registers them with this app.
from notifications.policy.models import (  # noqa: E402, F401
    NotificationPreference,
    RateLimitCharge,
    WhatsAppInbound,
    WhatsAppTemplate,
)
