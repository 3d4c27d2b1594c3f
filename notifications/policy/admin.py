"""Admin of the send policy: the preferences ledger (read; set from the customer's page), the
grid on the customer's page, and the registry of approved WhatsApp templates."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from accounts.customers.page import CustomerPagePart, register_customer_page_part
from accounts.models import Customer, User
from integrations.admin_utils import ReadOnlyAdminMixin
from notifications.exceptions import NotificationNotAllowed
from notifications.models import MessageCategory, NotificationChannel
from notifications.policy.models import NotificationPreference, WhatsAppTemplate
from notifications.policy.selectors import preferences_of
from notifications.policy.services import notification_preferences_set
from notifications.policy.templates import VARIABLES, unknown_variables

SET_PERMISSION = "notifications.add_notificationpreference"
ALWAYS = (MessageCategory.TRANSACTIONAL.value, NotificationChannel.EMAIL.value)
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The preferences ledger, append-only: each change a customer asked for, with who recorded
    it. Set from the customer's page ("Message preferences")."""

    list_display = ("set_at", "customer", "category", "channel", "allowed", "actor", "source")
    list_filter = ("category", "channel", "allowed")
    list_select_related = ("customer", "actor")
    readonly_fields = ("customer", "category", "channel", "allowed", "actor", "source", "set_at")
    search_fields = ("customer__email__exact",)
    search_help_text = "Customer e-mail (exact)."
    ordering = ("-set_at", "-id")
    actions = None

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "customer/<int:customer_id>/set/",
                self.admin_site.admin_view(require_POST(self.set_view)),
                name="notifications_notificationpreference_set",
            )
        ]
        return custom + super().get_urls()

    def set_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        """The grid on the customer's page: every editable (category, channel) box, checked or
        not, becomes the customer's preference (only changes are recorded)."""
        if not request.user.has_perm(SET_PERMISSION):
            raise PermissionDenied("Your role cannot change a customer's message preferences.")
        customer = get_object_or_404(Customer, pk=customer_id)
        chosen = set(request.POST.getlist("allowed"))
        wanted = {
            (category, channel): f"{category}:{channel}" in chosen
            for category in MessageCategory.values
            for channel in NotificationChannel.values
            if (category, channel) != ALWAYS
        }
        actor = request.user if isinstance(request.user, User) else None
        try:
            changed = notification_preferences_set(
                customer=customer, preferences=wanted, actor=actor
            )
        except NotificationNotAllowed as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"Message preferences saved ({len(changed)} change(s))."
                if changed
                else "Message preferences unchanged.",
            )
        url = reverse("admin:accounts_customer_change", args=[customer.pk])
        return HttpResponseRedirect(f"{url}#message-preferences")


def _preferences_part(request: HttpRequest, customer: Customer) -> dict[str, Any] | None:
    if not request.user.has_perm("notifications.view_notificationpreference"):
        return None
    current = preferences_of(customer_id=customer.pk)
    channels = [(value, label) for value, label in NotificationChannel.choices]
    rows = [
        {
            "label": label,
            "cells": [
                {
                    "name": f"{category}:{channel}",
                    "id": f"pref-{category}-{channel}",
                    "label": f"{label} by {channel_label}",
                    "allowed": current[(category, channel)],
                    "always": (category, channel) == ALWAYS,
                }
                for channel, channel_label in channels
            ],
        }
        for category, label in MessageCategory.choices
    ]
    return {
        "customer": customer,
        "channels": [label for _, label in channels],
        "rows": rows,
        "can_set": request.user.has_perm(SET_PERMISSION),
        "action": reverse("admin:notifications_notificationpreference_set", args=[customer.pk]),
    }


def register_customer_page_parts() -> None:
    register_customer_page_part(
        CustomerPagePart(
            key="message-preferences",
            template="admin/notifications/customer_preferences.html",
            detached_template="admin/notifications/customer_preferences_form.html",
            context=_preferences_part,
        )
    )


class WhatsAppTemplateForm(forms.ModelForm):
    variables = forms.CharField(
        required=False,
        help_text="Comma-separated, in the order of {{1}}, {{2}}, ...; each one of: "
        + ", ".join(VARIABLES),
    )

    class Meta:
        model = WhatsAppTemplate
        fields = (
            "key",
            "language",
            "provider",
            "provider_template",
            "variables",
            "content",
            "approved",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["variables"] = ", ".join(self.instance.variables or [])

    def clean_variables(self) -> list[str]:
        names = [n.strip() for n in str(self.cleaned_data.get("variables", "")).split(",")]
        names = [n for n in names if n]
        unknown = unknown_variables(names)
        if unknown:
            raise forms.ValidationError(
                "Unknown variable(s): %(unknown)s. Use: %(known)s.",
                params={"unknown": ", ".join(unknown), "known": ", ".join(VARIABLES)},
            )
        return names

    def clean_provider_template(self) -> str:
        value = str(self.cleaned_data.get("provider_template", "")).strip()
        if self.cleaned_data.get("provider") == "twilio" and not CONTENT_SID.fullmatch(value):
            raise forms.ValidationError(
                "A Twilio Content SID is HX followed by 32 hexadecimal digits."
            )
        return value


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(admin.ModelAdmin):
    """The WhatsApp templates approved for each provider: what may be sent outside WhatsApp's
    24-hour window. Ops register them as the provider approves them."""

    form = WhatsAppTemplateForm
    list_display = ("key", "language", "provider", "provider_template", "approved", "updated_at")
    list_filter = ("provider", "language", "approved")
    search_fields = ("key",)
    ordering = ("key", "language", "provider")
