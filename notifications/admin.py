from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from accounts.models import Customer
from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin, ids_matching
from notifications.exceptions import NotificationNotAllowed
from notifications.models import (
    ConsentRecord,
    EmailSuppression,
    Notification,
    NotificationAttachment,
    NotificationRule,
)
from notifications.resend import current_address, notification_resend
from notifications.rule_preview import RulePreview, example_events, rule_preview
from notifications.rules import rule_problems
from notifications.services import email_suppression_clear

RESEND_PERMISSION = "notifications.resend_notification"


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
    change_form_template = "admin/notifications/notification/change_form.html"

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:notification_id>/resend/",
                self.admin_site.admin_view(self.resend_view),
                name="notifications_notification_resend",
            )
        ]
        return custom + super().get_urls()

    def resend_view(self, request: HttpRequest, notification_id: int) -> HttpResponse:
        """GET: what would be resent, and to which address (the confirm step). POST: resend it
        (``notification_resend``) and go back to the customer's timeline."""
        if not request.user.has_perm(RESEND_PERMISSION):
            raise PermissionDenied("Your role cannot resend messages.")
        notification = get_object_or_404(
            Notification.objects.select_related("customer", "order"), pk=notification_id
        )
        current = current_address(notification)
        if request.method == "POST":
            to_current = request.POST.get("to") == "current"
            try:
                copy = notification_resend(
                    notification=notification,
                    actor=request.user,  # type: ignore[arg-type]
                    to_current_address=to_current,
                )
            except NotificationNotAllowed as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.message_user(
                request,
                f"Resent as message #{copy.pk} to {copy.recipient}.",
                messages.SUCCESS,
            )
            customer_page = reverse("admin:accounts_customer_change", args=[copy.customer_id])
            return HttpResponseRedirect(f"{customer_page}#timeline")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Resend message #{notification.pk}?",
            "notification": notification,
            "current_address": current,
            "address_changed": bool(current) and current.lower() != notification.recipient.lower(),
        }
        return TemplateResponse(
            request, "admin/notifications/notification/resend_confirm.html", context
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        can_resend = request.user.has_perm(RESEND_PERMISSION) and object_id.isdigit()
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "can_resend": can_resend}
        )

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


class NotificationRuleForm(forms.ModelForm):
    """Validates the rule's templates on save (a syntax error or a variable the event's payload
    lacks is the field's error). With ``_preview`` in the POST it validates and stops there:
    the page is shown again with the preview, nothing is saved."""

    class Meta:
        model = NotificationRule
        fields = (
            "event_type",
            "condition",
            "active",
            "template",
            "category",
            "urgent",
            "channels",
            "fallback_minutes",
            "subject_pt_br",
            "body_pt_br",
            "subject_en",
            "body_en",
            "attachment_kind",
            "attachment_source",
            "attachment_filename",
        )
        widgets = {
            "body_pt_br": forms.Textarea(attrs={"rows": 5, "cols": 90}),
            "body_en": forms.Textarea(attrs={"rows": 5, "cols": 90}),
            "subject_pt_br": forms.TextInput(attrs={"size": 90}),
            "subject_en": forms.TextInput(attrs={"size": 90}),
            "condition": forms.TextInput(attrs={"size": 60}),
            "attachment_source": forms.TextInput(attrs={"size": 60}),
            "attachment_filename": forms.TextInput(attrs={"size": 60}),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        names = [f.name for f in NotificationRule._meta.fields if f.name in cleaned]
        candidate = NotificationRule(**{name: cleaned[name] for name in names})
        for field, problem in rule_problems(candidate).items():
            self.add_error(field if field in self.fields else None, problem)
        return cleaned

    @property
    def preview_requested(self) -> bool:
        return self.is_bound and "_preview" in self.data

    def is_valid(self) -> bool:
        return super().is_valid() and not self.preview_requested


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    """Which event sends which message on which channels: edited by ops (and admin), read by
    every role. The change page previews the texts in each language, rendered server-side from
    the event type's example payload or a recent event of that type."""

    form = NotificationRuleForm
    list_display = ("template", "event_type", "condition", "channels", "active", "updated_at")
    list_filter = ("active", "event_type")
    search_fields = ("template", "event_type")
    ordering = ("event_type", "id")
    change_form_template = "admin/notifications/notificationrule/change_form.html"
    fieldsets = (
        (None, {"fields": ("event_type", "condition", "active", "template")}),
        ("Sending", {"fields": ("category", "urgent", "channels", "fallback_minutes")}),
        ("Português (Brasil)", {"fields": ("subject_pt_br", "body_pt_br")}),
        ("English", {"fields": ("subject_en", "body_en")}),
        (
            "Attachment (WhatsApp)",
            {"fields": ("attachment_kind", "attachment_source", "attachment_filename")},
        ),
    )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: NotificationRule | None = None,
    ) -> HttpResponse:
        form = context["adminform"].form
        preview: RulePreview | None = None
        example = str(request.POST.get("_example", "")) if request.method == "POST" else ""
        event_type = obj.event_type if obj is not None else ""
        if form.is_bound and "_preview" in form.data:
            event_type = str(form.data.get("event_type", ""))
            preview = rule_preview(
                form.instance, example=example, problems=form.errors if form.errors else None
            )
        elif obj is not None:
            preview = rule_preview(obj, example="")
        context["preview"] = preview
        context["example_events"] = example_events(event_type) if event_type else []
        context["example"] = example
        return super().render_change_form(request, context, add, change, form_url, obj)


from notifications.policy import admin as _policy_admin  # noqa: E402, F401 - registers its admins
