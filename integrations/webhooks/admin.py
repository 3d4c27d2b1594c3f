"""Admin screens of the webhook inbox; imported by integrations/admin.py."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from integrations.admin_utils import (
    COLUMNS_CSS,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    cut_text,
    static_choices_filter,
)
from integrations.exceptions import InvalidTransition
from integrations.models import WebhookEvent, WebhookRejection
from integrations.models.webhooks import WebhookRejectionCounter
from integrations.webhooks.inbox import waiting_arrivals
from integrations.webhooks.processing import webhook_event_replay
from integrations.webhooks.registry import (
    MalformedWebhook,
    load_json,
    registered_webhook_endpoints,
)

EVENT_TYPE_FILTER_LIMIT = 100
RECENT_EVENTS_FOR_TYPES = 1000
# What the receiver refuses and samples (views.py records 401s; the others for completeness).
REJECTION_STATUS_CODES = ["400", "401", "413"]
# The change page offers Replay for events that did not succeed.
REPLAYABLE_ON_PAGE = (WebhookEvent.Status.FAILED, WebhookEvent.Status.DEAD)
COUNTER_SUMMARY_HOURS = 24
COUNTER_SUMMARY_PROVIDERS = 10


def _pre(text: str) -> SafeString:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class ProviderFilter(admin.SimpleListFilter):
    """Providers from the registry, plus any already in the filter: no DISTINCT over the table."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = set(registered_webhook_endpoints())
        if self.value():
            names.add(str(self.value()))
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(provider=self.value()) if self.value() else queryset


class EventTypeFilter(admin.SimpleListFilter):
    """Event types seen in the newest inbox rows (a bounded read in primary key order, not a
    DISTINCT over the table), plus the one selected."""

    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = WebhookEvent.objects.order_by("-id").values_list("event_type", flat=True)
        types = set(recent[:RECENT_EVENTS_FOR_TYPES])
        if self.value() is not None:
            types.add(str(self.value()))
        return [(t, t or "(none)") for t in sorted(types)[:EVENT_TYPE_FILTER_LIMIT]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value is None else queryset.filter(event_type=value)


@admin.register(WebhookEvent)
class WebhookEventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # The status next to the time, before the long ids (cut, whole in the tooltip): it stays
    # in sight in a 1366 px window whatever the providers send.
    list_display = (
        "received_at",
        "status",
        "provider",
        "event_type_cut",
        "event_id_cut",
        "object_id_cut",
        "attempts",
        "next_attempt_at",
    )
    list_filter = (
        ProviderFilter,
        "status",
        EventTypeFilter,
        ("received_at", admin.DateFieldListFilter),
    )
    # The list shows none of these; a body can be 1 MiB.
    list_defer = ("body", "headers", "traceback", "affected", "last_error")
    # Exact lookups only: they can use the indexes; a LIKE over the bodies would scan the table.
    search_fields = ("object_id__exact",)
    search_help_text = "Exact provider event id or object id (pi_..., tracking code)."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[WebhookEvent], search_term: str
    ) -> tuple[QuerySet[WebhookEvent], bool]:
        """Event ids are looked up per provider, so the (provider, event_id) unique index serves
        the search and the inbox needs no second index on event_id (one less per insert)."""
        by_object, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return by_object, duplicates
        providers = set(registered_webhook_endpoints())
        by_event_id = queryset.filter(provider__in=providers, event_id=term)
        return by_object | by_event_id, duplicates

    actions = ["replay_selected"]

    class Media:
        css = {"all": (COLUMNS_CSS,)}

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Deliveries the embedded profile's receiver stored as arrivals are listed only once the
        drain has moved them in: the page says how many are waiting, if any."""
        waiting = waiting_arrivals().count()
        if waiting:
            self.message_user(
                request,
                f"{waiting} received deliver{'y' if waiting == 1 else 'ies'} waiting to be moved "
                "into the inbox by the webhook drain (normally within a second; if this stays, "
                "check the task cluster on the ops page).",
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description="Event type", ordering="event_type")
    def event_type_cut(self, obj: WebhookEvent) -> str:
        return cut_text(obj.event_type)

    @admin.display(description="Event id", ordering="event_id")
    def event_id_cut(self, obj: WebhookEvent) -> str:
        return cut_text(obj.event_id, narrow=True)

    @admin.display(description="Object id", ordering="object_id")
    def object_id_cut(self, obj: WebhookEvent) -> str:
        return cut_text(obj.object_id, narrow=True)

    fields = (
        "provider",
        "event_type",
        "event_id",
        "object_id",
        "status",
        "attempts",
        "received_at",
        "occurred_at",
        "claimed_at",
        "next_attempt_at",
        "processed_at",
        "affected_links",
        "pretty_body",
        "pretty_headers",
        "error",
        "traceback_text",
    )
    readonly_fields = fields

    @admin.display(description="Affected objects")
    def affected_links(self, obj: WebhookEvent) -> str:
        items = obj.affected if isinstance(obj.affected, list) else []
        if not items:
            return "-"
        rows = [(self._affected_url(item), item.get("label") or item.get("pk")) for item in items]
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}</li>",
                (
                    (format_html('<a href="{}">{}</a>', url, label) if url else label,)
                    for url, label in rows
                ),
            ),
        )

    @staticmethod
    def _affected_url(item: Any) -> str:
        model = str(item.get("model", "")) if isinstance(item, dict) else ""
        app_label, _, model_name = model.partition(".")
        try:
            return reverse(f"admin:{app_label}_{model_name}_change", args=[item.get("pk")])
        except NoReverseMatch:
            return ""

    @admin.display(description="Body")
    def pretty_body(self, obj: WebhookEvent) -> str:
        """Pretty-printed when it parses as a webhook body would; else as received, escaped
        (a body nested 10,000 deep or holding a lone surrogate must not break the page)."""
        try:
            return _pre(_pretty_json(load_json(obj.body.encode("utf-8", "surrogatepass"))))
        except MalformedWebhook as exc:
            text = obj.body.encode("utf-8", "backslashreplace").decode("utf-8")
            return format_html("<p>{} (not shown pretty-printed)</p>{}", exc, _pre(text))

    @admin.display(description="Headers (secrets removed)")
    def pretty_headers(self, obj: WebhookEvent) -> str:
        return _pre(_pretty_json(obj.headers))

    @admin.display(description="Last error")
    def error(self, obj: WebhookEvent) -> str:
        return _pre(obj.last_error) if obj.last_error else "-"

    @admin.display(description="Traceback")
    def traceback_text(self, obj: WebhookEvent) -> str:
        return _pre(obj.traceback) if obj.traceback else "-"

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_webhookevent")

    @admin.action(description="Replay selected", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        outcomes: Counter[str] = Counter()
        for event in list(queryset):
            try:
                outcomes[webhook_event_replay(event=event, actor=request.user).status] += 1
            except InvalidTransition:
                outcomes["skipped (being processed)"] += 1
        summary = ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
        self.message_user(
            request,
            f"Replayed {sum(outcomes.values())} event(s): {summary or 'none'}.",
            messages.SUCCESS,
        )

    # The Replay button on the change page ----------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:event_id>/replay/",
                self.admin_site.admin_view(require_POST(self.replay_view)),
                name="integrations_webhookevent_replay",
            ),
        ]
        return custom + super().get_urls()

    def replay_view(self, request: HttpRequest, event_id: int) -> HttpResponse:
        """Replay one event through the service and go back to its page, saying how it ended."""
        if not self.has_replay_permission(request):
            raise PermissionDenied("Your role cannot replay webhook events.")
        event = get_object_or_404(WebhookEvent, pk=event_id)
        try:
            result = webhook_event_replay(event=event, actor=request.user)
        except InvalidTransition:
            self.message_user(
                request,
                f"{event} is being processed by a worker right now; nothing was replayed.",
                messages.WARNING,
            )
        else:
            level = (
                messages.SUCCESS
                if result.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)
                else messages.ERROR
            )
            self.message_user(request, f"Replayed {result}: {result.status}.", level)
        return HttpResponseRedirect(
            reverse("admin:integrations_webhookevent_change", args=[event.pk])
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        status = (
            WebhookEvent.objects.filter(pk=object_id).values_list("status", flat=True).first()
            if object_id.isdigit()
            else None
        )
        can_replay = status in REPLAYABLE_ON_PAGE and self.has_replay_permission(request)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "can_replay": can_replay}
        )


@admin.register(WebhookRejection)
class WebhookRejectionAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "provider", "status_code", "reason", "remote_addr", "body_size")
    list_filter = (
        static_choices_filter("status_code", "status code", lambda: REJECTION_STATUS_CODES),
        ("received_at", admin.DateFieldListFilter),
    )
    search_fields = ("provider__exact",)
    list_defer = ("headers",)
    fields = (
        "provider",
        "reason",
        "status_code",
        "remote_addr",
        "received_at",
        "body_sha256",
        "body_size",
        "pretty_headers",
    )
    readonly_fields = fields

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list holds only a sample; the subtitle gives every refusal's count."""
        return super().changelist_view(
            request, {**(extra_context or {}), "subtitle": rejection_counts_summary()}
        )

    @admin.display(description="Headers (secrets removed)")
    def pretty_headers(self, obj: WebhookRejection) -> str:
        return _pre(_pretty_json(obj.headers))


def rejection_counts_summary(*, hours: int = COUNTER_SUMMARY_HOURS) -> str:
    """Refusals per provider over the last ``hours`` hours (WebhookRejectionCounter), busiest
    first, at most COUNTER_SUMMARY_PROVIDERS providers; one short line."""
    since = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    totals = (
        WebhookRejectionCounter.objects.filter(hour__gte=since)
        .values("provider")
        .annotate(rejected=Sum("rejected"), limited=Sum("limited"), sampled=Sum("sampled"))
        .order_by("-rejected", "provider")[:COUNTER_SUMMARY_PROVIDERS]
    )
    parts = [
        f"{row['provider']} {row['rejected']:,} (kept {row['sampled']:,}, "
        f"{row['limited']:,} past a source's limit)"
        for row in totals
    ]
    return f"Refused in the last {hours} h: " + ("; ".join(parts) if parts else "none") + "."
