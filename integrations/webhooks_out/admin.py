"""Admin screens for outbound webhooks; imported by integrations/admin.py.

Endpoints: list, add (the secret is shown once, on the page that answers the add), change with
the attempt log, and buttons to send a test event, rotate the secret and recover every failed
message since a time. Messages: list and page with their attempts, and a resend button. The
buttons' forms sit after Django's change form (browsers drop nested forms)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin
from integrations.exceptions import SwitchboardError
from integrations.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from integrations.webhooks_out.services import (
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_send_test,
    endpoint_update,
    message_resend,
    messages_recover,
    subscription_clean,
)
from integrations.webhooks_out.ssrf import check_url

ATTEMPT_LOG_ROWS = 50


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL")
    event_types_text = forms.CharField(
        label="Event types",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Domain event types, comma- or line-separated: "order.paid", "order.*" for a '
        'kind, "*" for everything.',
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["event_types_text"].initial = ", ".join(self.instance.event_types or [])
        else:
            self.fields["event_types_text"].initial = "*"

    def clean_url(self) -> str:
        url = str(self.cleaned_data["url"])
        try:
            check_url(url)
        except SwitchboardError as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean_event_types_text(self) -> list[str]:
        raw = str(self.cleaned_data["event_types_text"])
        try:
            return subscription_clean(raw.replace("\n", ",").split(","))
        except SwitchboardError as exc:
            raise forms.ValidationError(str(exc)) from None


def _attempt_rows(attempts: QuerySet[WebhookAttempt]) -> list[WebhookAttempt]:
    return list(attempts.select_related("message").order_by("-id")[:ATTEMPT_LOG_ROWS])


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = (
        "url",
        "description",
        "active",
        "subscriptions",
        "last_success_at",
        "first_failure_at",
    )
    list_filter = ("active",)
    search_fields = ("url", "description")
    readonly_fields = (
        "disabled_reason",
        "disabled_at",
        "first_failure_at",
        "last_success_at",
        "previous_secret_expires_at",
        "created_at",
    )
    change_form_template = "admin/integrations/webhookendpoint/change_form.html"

    @admin.display(description="Event types")
    def subscriptions(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types or [])

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:  # type: ignore[override]
        fields = ["url", "description", "event_types_text", "active"]
        return fields + list(self.readonly_fields) if obj is not None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_webhookendpoint")

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            saved = endpoint_update(
                endpoint=obj,
                url=data["url"],
                event_types=data["event_types_text"],
                description=data["description"],
                active=data["active"],
            )
        else:
            saved, secret = endpoint_create(
                url=data["url"],
                event_types=data["event_types_text"],
                description=data["description"],
            )
            request._webhook_secret = secret  # type: ignore[attr-defined]
        obj.pk = saved.pk
        obj.refresh_from_db()

    def response_add(
        self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: Any = None
    ) -> HttpResponse:
        secret = getattr(request, "_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._secret_page(request, obj, secret, created=True)

    def _secret_page(
        self, request: HttpRequest, endpoint: WebhookEndpoint, secret: str, *, created: bool
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": endpoint,
            "secret": secret,
            "created": created,
            "title": "Endpoint secret",
            "change_url": reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]),
        }
        response = TemplateResponse(
            request, "admin/integrations/webhookendpoint/secret.html", context
        )
        response["Cache-Control"] = "no-store"
        return response

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        custom = [
            path(
                "<int:endpoint_id>/send-test/",
                view(require_POST(self.send_test_view)),
                name="integrations_webhookendpoint_send_test",
            ),
            path(
                "<int:endpoint_id>/rotate-secret/",
                view(require_POST(self.rotate_view)),
                name="integrations_webhookendpoint_rotate_secret",
            ),
            path(
                "<int:endpoint_id>/recover/",
                view(require_POST(self.recover_view)),
                name="integrations_webhookendpoint_recover",
            ),
        ]
        return custom + super().get_urls()

    def _endpoint_for(self, request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
        if not self.has_operate_permission(request):
            raise PermissionDenied("Your role cannot operate outbound webhook endpoints.")
        return get_object_or_404(WebhookEndpoint, pk=endpoint_id)

    def _back(self, endpoint: WebhookEndpoint) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk])
        )

    def send_test_view(self, request: HttpRequest, endpoint_id: int) -> HttpResponse:
        endpoint = self._endpoint_for(request, endpoint_id)
        message = endpoint_send_test(endpoint=endpoint, actor=request.user)
        self.message_user(
            request,
            f"Test event {message.msg_id} queued for {endpoint}; its attempt shows below.",
            messages.SUCCESS,
        )
        return self._back(endpoint)

    def rotate_view(self, request: HttpRequest, endpoint_id: int) -> HttpResponse:
        endpoint = self._endpoint_for(request, endpoint_id)
        endpoint, secret = endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        return self._secret_page(request, endpoint, secret, created=False)

    def recover_view(self, request: HttpRequest, endpoint_id: int) -> HttpResponse:
        endpoint = self._endpoint_for(request, endpoint_id)
        since = _parse_since(str(request.POST.get("since", "")))
        if since is None:
            self.message_user(
                request, "Give the time to recover from (YYYY-MM-DD HH:MM, UTC).", messages.ERROR
            )
            return self._back(endpoint)
        count = messages_recover(endpoint=endpoint, since=since, actor=request.user)
        self.message_user(
            request,
            f"{count} failed message(s) since {since:%Y-%m-%d %H:%M} UTC queued again.",
            messages.SUCCESS,
        )
        return self._back(endpoint)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        attempts: list[WebhookAttempt] = []
        if object_id.isdigit():
            attempts = _attempt_rows(WebhookAttempt.objects.filter(endpoint_id=int(object_id)))
        context = {
            **(extra_context or {}),
            "attempts": attempts,
            "can_operate": self.has_operate_permission(request),
            "recover_default": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M"),
        }
        return super().change_view(request, object_id, form_url, context)


def _parse_since(text: str) -> datetime | None:
    text = text.strip().replace("T", " ")
    if not text:
        return None
    if len(text) == 16:
        text += ":00"
    try:
        found = parse_datetime(text)
    except ValueError:
        return None
    if found is None:
        return None
    if timezone.is_naive(found):
        found = found.replace(tzinfo=UTC)
    return found


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return list(WebhookMessage.Status.choices)

    def queryset(
        self, request: Any, queryset: QuerySet[WebhookMessage]
    ) -> QuerySet[WebhookMessage]:
        value = self.value()
        return queryset.filter(status=value) if value else queryset


@admin.register(WebhookMessage)
class WebhookMessageAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "endpoint",
        "event_type",
        "msg_id",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = (StatusFilter,)
    list_select_related = ("endpoint",)
    search_fields = ("msg_id__exact", "event_type__exact")
    search_help_text = "webhook-id (msg_...) or event type, exact."
    ordering = ("-id",)
    actions = None
    fields = (
        "endpoint",
        "event_link",
        "event_type",
        "msg_id",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
        "completed_at",
    )
    readonly_fields = fields
    change_form_template = "admin/integrations/webhookmessage/change_form.html"

    @admin.display(description="Domain event")
    def event_link(self, obj: WebhookMessage) -> str:
        if obj.event_id is None:
            return "- (test message)"
        url = reverse("admin:integrations_domainevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event_id)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_webhookmessage")

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:message_id>/resend/",
                self.admin_site.admin_view(require_POST(self.resend_view)),
                name="integrations_webhookmessage_resend",
            )
        ]
        return custom + super().get_urls()

    def resend_view(self, request: HttpRequest, message_id: int) -> HttpResponse:
        if not self.has_resend_permission(request):
            raise PermissionDenied("Your role cannot resend outbound webhook messages.")
        message = get_object_or_404(WebhookMessage, pk=message_id)
        try:
            message = message_resend(message=message, actor=request.user)
        except SwitchboardError as exc:
            self.message_user(request, str(exc), messages.WARNING)
        else:
            self.message_user(
                request, f"Queued {message.msg_id} again (same webhook-id).", messages.SUCCESS
            )
        return HttpResponseRedirect(
            reverse("admin:integrations_webhookmessage_change", args=[message_id])
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        attempts: list[WebhookAttempt] = []
        if object_id.isdigit():
            attempts = _attempt_rows(WebhookAttempt.objects.filter(message_id=int(object_id)))
        context = {
            **(extra_context or {}),
            "attempts": attempts,
            "can_resend": self.has_resend_permission(request),
        }
        return super().change_view(request, object_id, form_url, context)
