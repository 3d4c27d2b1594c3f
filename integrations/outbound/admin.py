"""Admin screens for outbound calls and circuit breakers; imported by integrations/admin.py."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin
from integrations.models import CircuitBreaker, ProviderCall
from integrations.ops_admin import OPS_PAGE_PERMISSION, ops_page_view
from integrations.outbound.breaker import breaker_reset

RECENT_CALLS_FOR_OPERATIONS = 1000
BADGE_COLORS: dict[str, str] = {
    CircuitBreaker.State.CLOSED: "#2e7d32",
    CircuitBreaker.State.HALF_OPEN: "#ef6c00",
    CircuitBreaker.State.OPEN: "#c62828",
}


class ProviderFilter(admin.SimpleListFilter):
    """Providers from the breaker table (one row per provider that ever made a call), so the
    filter never scans the calls table."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        providers = CircuitBreaker.objects.order_by("provider").values_list("provider", flat=True)
        return [(provider, provider) for provider in providers]

    def queryset(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(provider=value) if value else queryset


class OperationFilter(admin.SimpleListFilter):
    """Operations seen in the most recent calls (a bounded read, not a scan of the table)."""

    title = "operation"
    parameter_name = "operation"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        recent = ProviderCall.objects.order_by("-created_at").values_list("operation", flat=True)
        operations = set(recent[:RECENT_CALLS_FOR_OPERATIONS])
        if self.value():
            operations.add(str(self.value()))
        return [(operation, operation) for operation in sorted(operations)]

    def queryset(self, request: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(operation=value) if value else queryset


@admin.register(ProviderCall)
class ProviderCallAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "provider",
        "operation",
        "method",
        "attempt",
        "outcome",
        "status_code",
        "duration_ms",
        "idempotency_key",
        "subject_display",
    )
    list_filter = (
        ProviderFilter,
        "outcome",
        OperationFilter,
        ("created_at", admin.DateFieldListFilter),
    )
    # Exact and case-sensitive: "=field" is __iexact, a LIKE on SQLite that no index serves.
    search_fields = ("idempotency_key__exact", "subject_id__exact")
    search_help_text = "Exact idempotency key or subject id."
    list_select_related = ("subject_type",)
    fields = (
        "created_at",
        "provider",
        "operation",
        "method",
        "url",
        "attempt",
        "outcome",
        "status_code",
        "duration_ms",
        "idempotency_key",
        "error",
        "subject_type",
        "subject_id",
    )

    @admin.display(description="Subject")
    def subject_display(self, obj: ProviderCall) -> str:
        if obj.subject_type is None:
            return ""
        return f"{obj.subject_type.model} {obj.subject_id}"


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "provider",
        "state_badge",
        "successes",
        "failures",
        "window_started_at",
        "opened_at",
        "updated_at",
    )
    list_filter = ("state",)
    actions = ["reset_breakers"]
    # Adds the link to the ops page (integrations/ops_admin.py) above the list.
    change_list_template = "admin/integrations/circuitbreaker/change_list.html"
    fields = (
        "provider",
        "state",
        "successes",
        "failures",
        "window_started_at",
        "opened_at",
        "updated_at",
    )

    @admin.display(description="State", ordering="state")
    def state_badge(self, obj: CircuitBreaker) -> str:
        return format_html(
            '<span style="background:{};color:#fff;padding:2px 8px;border-radius:8px;'
            'font-weight:bold;white-space:nowrap">{}</span>',
            BADGE_COLORS.get(obj.state, "#616161"),
            obj.get_state_display(),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "ops/",
                self.admin_site.admin_view(require_GET(self.ops_view)),
                name="integrations_circuitbreaker_ops",
            ),
            *super().get_urls(),
        ]

    def ops_view(self, request: HttpRequest) -> HttpResponse:
        return ops_page_view(request, {**self.admin_site.each_context(request), "opts": self.opts})

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_see_ops_page": request.user.has_perm(OPS_PAGE_PERMISSION)}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def has_reset_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Reset (close) breaker", permissions=["reset"])
    def reset_breakers(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> None:
        providers = list(queryset.values_list("provider", flat=True))
        for provider in providers:
            with transaction.atomic():  # the reset and its audit entry, together
                breaker_reset(provider, actor=request.user)
        self.message_user(
            request,
            f"Closed {len(providers)} breaker(s): {', '.join(providers)}.",
            messages.SUCCESS,
        )
