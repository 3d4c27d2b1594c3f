from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from accounts.models import Customer
from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin, ids_matching
from notifications.models import (
    ConsentRecord,
    EmailSuppression,
    Notification,
    NotificationAttachment,
)
from notifications.services import email_suppression_clear


@admin.register(Notification)
class NotificationAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A record of what was sent: rows are written by the notification services only."""

    list_display = ("id", "customer", "channel", "template", "recipient", "status", "created_at")
    list_filter = ("status", "channel")
    # Searched by get_search_results, exact matches through indexes.
    search_fields = ("provider_message_id__exact",)
    search_help_text = "Recipient, provider message id or customer e-mail (exact)."
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    readonly_fields = (
        "customer",
        "channel",
        "template",
        "recipient",
        "subject",
        "body",
        "attachment_summary",
        "status",
        "provider",
        "provider_message_id",
        "error",
        "dedupe_key",
        "created_at",
        "updated_at",
        "sent_at",
        "delivered_at",
        "read_at",
    )
    ordering = ("-created_at", "-id")

    @admin.display(description="Attachment")
    def attachment_summary(self, obj: Notification) -> str:
        """What the file is, not its bytes (a data: URI can be megabytes of base64)."""
        try:
            file = obj.attachment
        except NotificationAttachment.DoesNotExist:
            return "-"
        source = file.source
        where = (
            source
            if source.startswith("https://")
            else f"{source.split(';', 1)[0]} ({len(source) // 1024} KB inline)"
        )
        name = f" {file.filename}," if file.filename else ""
        return f"{file.get_kind_display()}:{name} {where}"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Notification], search_term: str
    ) -> tuple[QuerySet[Notification], bool]:
        """A recipient is an e-mail address (stored lower-case) or an E.164 phone; the
        customer is found by e-mail through its LOWER(email) index, first."""
        term = search_term.strip()
        if not term:
            return queryset, False
        customers = ids_matching(Customer.objects.filter(Exact(Lower("email"), term.lower())))
        return queryset.filter(
            Q(recipient__in=sorted({term, term.lower()}))
            | Q(provider_message_id=term)
            | Q(customer_id__in=customers)
        ), False


@admin.register(EmailSuppression)
class EmailSuppressionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Addresses e-mail is not sent to (hard bounces, complaints): written by the ESP's tracking
    webhooks; support and ops clear an entry from its page once the address works again."""

    list_display = ("address", "reason", "provider", "created_at", "active_display", "cleared_at")
    list_filter = (("cleared_at", admin.EmptyFieldListFilter), "reason")
    search_fields = ("address__exact",)
    search_help_text = "E-mail address (exact)."
    readonly_fields = (
        "address",
        "reason",
        "detail",
        "provider",
        "notification",
        "created_at",
        "cleared_at",
        "cleared_by",
    )
    ordering = ("-created_at", "-id")
    change_form_template = "admin/notifications/emailsuppression/change_form.html"

    @admin.display(description="Active", boolean=True)
    def active_display(self, obj: EmailSuppression) -> bool:
        return obj.active

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[EmailSuppression], search_term: str
    ) -> tuple[QuerySet[EmailSuppression], bool]:
        term = search_term.strip().lower()
        return (queryset.filter(address=term), False) if term else (queryset, False)

    def has_clear_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_emailsuppression")

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:suppression_id>/clear/",
                self.admin_site.admin_view(require_POST(self.clear_view)),
                name="notifications_emailsuppression_clear",
            )
        ]
        return custom + super().get_urls()

    def clear_view(self, request: HttpRequest, suppression_id: int) -> HttpResponse:
        if not self.has_clear_permission(request):
            raise PermissionDenied("Your role cannot clear e-mail suppressions.")
        suppression = get_object_or_404(EmailSuppression, pk=suppression_id)
        email_suppression_clear(suppression=suppression, actor=request.user)  # type: ignore[arg-type]
        self.message_user(
            request,
            f"Cleared {suppression.address}: e-mail to it is sent again.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:notifications_emailsuppression_change", args=[suppression.pk])
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        active = (
            EmailSuppression.objects.filter(pk=object_id, cleared_at__isnull=True).exists()
            if object_id.isdigit()
            else False
        )
        can_clear = active and self.has_clear_permission(request)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "can_clear": can_clear}
        )


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The consent ledger, append-only: each opt-in and opt-out of a customer on a channel, with
    its source and time. Written by the consent services (an inbound STOP, a provider's refusal,
    staff); the newest row of a customer and channel is the current state."""

    list_display = ("occurred_at", "customer", "channel", "action", "source", "address")
    list_filter = ("action", "channel")
    list_select_related = ("customer",)
    search_fields = ("address__exact",)
    search_help_text = "Customer e-mail or phone, or the address the decision came from (exact)."
    readonly_fields = (
        "customer",
        "channel",
        "action",
        "source",
        "detail",
        "address",
        "actor",
        "occurred_at",
        "created_at",
    )
    ordering = ("-occurred_at", "-id")
    actions = None

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ConsentRecord], search_term: str
    ) -> tuple[QuerySet[ConsentRecord], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        customers = ids_matching(
            Customer.objects.filter(Q(Exact(Lower("email"), term.lower())) | Q(phone=term))
        )
        return queryset.filter(Q(address=term) | Q(customer_id__in=customers)), False


from notifications.policy import admin as _policy_admin  # noqa: E402, F401 - registers its admins
