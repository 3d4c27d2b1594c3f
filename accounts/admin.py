from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access.api_keys import api_key_create, api_key_revoke
from accounts.access.audit import stage_admin_changes, values_diff
from accounts.customers.exceptions import EmptyNote
from accounts.customers.export import customer_export
from accounts.customers.page import customer_page_parts
from accounts.customers.search import customer_ids_matching
from accounts.customers.selectors import (
    TIMELINE_SOURCES,
    InvalidCursor,
    customer_timeline,
    known_sources,
    newest_entry_ids,
    timeline_page_visible_to,
)
from accounts.customers.services import customer_create, customer_note_add, customer_update
from accounts.customers.summary import customer_summary
from accounts.customers.timeline_search import SEARCH_MAX_LENGTH
from accounts.customers.validators import normalize_phone, normalize_tax_document, tax_document_kind
from accounts.models import (
    ApiKey,
    AuditLogEntry,
    Customer,
    CustomerIdentifier,
    CustomerNote,
    User,
)
from integrations.admin_utils import LargeTableAdminMixin, ids_matching


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_active", "role_names")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(sorted(g.name for g in obj.groups.all()))


class CustomerAdminForm(forms.ModelForm):
    """Accepts phones and documents as people type them and stores them normalised."""

    phone = forms.CharField(required=False, max_length=32, help_text="Any format; stored as E.164.")
    tax_document = forms.CharField(
        required=False, max_length=24, label="CPF / CNPJ", help_text="With or without punctuation."
    )

    class Meta:
        model = Customer
        fields = (
            "name",
            "email",
            "phone",
            "tax_document",
            "time_zone",
            "quiet_hours_start",
            "quiet_hours_end",
        )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        start, end = cleaned.get("quiet_hours_start"), cleaned.get("quiet_hours_end")
        if (start is None) != (end is None):
            raise forms.ValidationError(
                "Give both ends of the customer's quiet hours, or neither (then the default "
                "quiet hours apply).",
                code="quiet_hours_incomplete",
            )
        return cleaned

    def _others(self) -> QuerySet[Customer]:
        if self.instance.pk is None:
            return Customer.objects.all()
        return Customer.objects.exclude(pk=self.instance.pk)

    @staticmethod
    def _taken(what: str, other: Customer) -> forms.ValidationError:
        return forms.ValidationError(
            "%(what)s already belongs to customer %(name)s (#%(id)s). Open that customer "
            "instead, or merge the two with manage.py merge_customers.",
            code="duplicate",
            params={"what": what, "name": other.name, "id": other.pk},
        )

    def clean_email(self) -> str:
        value = self.cleaned_data["email"].strip().lower()
        other = self._others().filter(email__iexact=value).first() if value else None
        if other is not None:
            raise self._taken("This e-mail address", other)
        return value

    def clean_phone(self) -> str:
        value = self.cleaned_data["phone"].strip()
        return normalize_phone(value) if value else ""

    def clean_tax_document(self) -> str:
        value = normalize_tax_document(self.cleaned_data["tax_document"])
        if value:
            tax_document_kind(value)
            other = self._others().filter(tax_document=value).first()
            if other is not None:
                raise self._taken("This CPF/CNPJ", other)
        return value


class CustomerIdentifierInline(admin.TabularInline):
    model = CustomerIdentifier
    extra = 0
    fields = ("system", "external_id", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "phone", "tax_document", "created_at")
    # Searched by get_search_results: identifiers exactly, else part of the name.
    search_fields = ("name",)
    search_help_text = (
        "Part of the name, or exactly: e-mail (any case), phone, CPF/CNPJ, order number, or any "
        "provider id (payment, refund, tracking code, message id, CRM id)."
    )
    list_per_page = 50
    show_full_result_count = False
    form = CustomerAdminForm
    readonly_fields = ("tax_document_type", "created_at", "updated_at")
    fields = (
        "name",
        "email",
        "phone",
        "tax_document",
        "time_zone",
        ("quiet_hours_start", "quiet_hours_end"),
        *readonly_fields,
    )
    inlines = [CustomerIdentifierInline]
    change_form_template = "admin/accounts/customer/change_form.html"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Customer], search_term: str
    ) -> tuple[QuerySet[Customer], bool]:
        """An exact identifier first, through each identifier's index; only when none matches,
        the customers whose name contains the term (a scan of the names, in name order, that
        stops at a page). ORing the two would make every identifier search scan."""
        term = search_term.strip()
        if not term:
            return queryset, False
        by_identifier = queryset.filter(pk__in=customer_ids_matching(term))
        if by_identifier.exists():
            return by_identifier, False
        return queryset.filter(name__icontains=term), False

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        """Saves go through the services, so the change is normalised and on the timeline."""
        audited = (
            "name",
            "email",
            "phone",
            "tax_document",
            "time_zone",
            "quiet_hours_start",
            "quiet_hours_end",
        )
        fields = {f: form.cleaned_data.get(f, "") for f in audited}
        user = request.user if isinstance(request.user, User) else None
        if change:
            current = Customer.objects.get(pk=obj.pk)
            before = {f: getattr(current, f) for f in audited}
            saved = customer_update(customer=current, actor=user, **fields)
        else:
            before = {f: None if f.startswith("quiet_hours") else "" for f in audited}
            quiet = {f: fields.pop(f) for f in ("quiet_hours_start", "quiet_hours_end")}
            saved = customer_create(actor=user, **fields)
            if any(quiet.values()):
                saved = customer_update(customer=saved, actor=user, **quiet)
        obj.pk = saved.pk
        obj.refresh_from_db()
        # The audit entry written with the admin's LogEntry carries these values.
        stage_admin_changes(
            request, obj, values_diff(before, {f: getattr(obj, f) for f in audited})
        )

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:customer_id>/notes/add/",
                self.admin_site.admin_view(require_POST(self.add_note_view)),
                name="accounts_customer_add_note",
            ),
            path(
                "<int:customer_id>/export/",
                self.admin_site.admin_view(require_GET(self.export_view)),
                name="accounts_customer_export",
            ),
        ]
        return custom + super().get_urls()

    def export_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        """The customer's data as a JSON download, audited (``customer_export``)."""
        if not request.user.has_perm("accounts.export_customer"):
            raise PermissionDenied("Your role cannot export a customer's data.")
        customer = get_object_or_404(Customer, pk=customer_id)
        document = customer_export(customer=customer, actor=request.user, request=request)
        response = JsonResponse(document, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = (
            f'attachment; filename="customer-{customer.pk}-export.json"'
        )
        response["Cache-Control"] = "no-store"
        return response

    def add_note_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        if not request.user.has_perm("accounts.add_customernote"):
            raise PermissionDenied("Your role cannot add notes.")
        customer = get_object_or_404(Customer, pk=customer_id)
        assert isinstance(request.user, User)
        try:
            customer_note_add(
                customer=customer, author=request.user, body=request.POST.get("body", "")
            )
        except EmptyNote as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Note added.")
        return HttpResponseRedirect(reverse("admin:accounts_customer_change", args=[customer.pk]))

    def _page_context(self, request: HttpRequest, customer: Customer) -> dict[str, Any]:
        """The 360 page around the change form: header, filtered timeline, other apps' parts."""
        sources = known_sources(request.GET.getlist("source"))
        search = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
        filters: dict[str, Any] = {"sources": sources, "search": search, "collapse_messages": True}
        try:
            page = customer_timeline(
                customer=customer, before=request.GET.get("before") or None, **filters
            )
        except InvalidCursor:
            messages.warning(request, "That timeline page link is no longer valid.")
            page = customer_timeline(customer=customer, **filters)
        query = [("source", key) for key in sources] + ([("q", search)] if search else [])
        labels = {source.key: source.label for source in TIMELINE_SOURCES}
        return {
            "summary": customer_summary(customer=customer),
            "timeline": timeline_page_visible_to(request.user, page),
            "timeline_sources": TIMELINE_SOURCES,
            "timeline_selected_sources": sources,
            "timeline_selected_labels": [labels[key] for key in sources],
            "timeline_search": search,
            "timeline_search_max": SEARCH_MAX_LENGTH,
            "timeline_filtered": bool(sources or search),
            "timeline_query": urlencode(query),
            "timeline_is_first_page": not request.GET.get("before"),
            "can_add_note": request.user.has_perm("accounts.add_customernote"),
            # One "Resend" per message, on its newest line (notifications' own admin view).
            "resend_entry_ids": (
                newest_entry_ids(page.entries, "notifications.notification")
                if request.user.has_perm("notifications.resend_notification")
                else set()
            ),
            "customer_parts": customer_page_parts(request, customer),
            "can_export": request.user.has_perm("accounts.export_customer"),
        }

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        # With its CRM record in the same query: the header's ``crm`` summary part reads it.
        customers = Customer.objects.select_related("crm_record")
        customer = customers.filter(pk=object_id).first() if object_id.isdigit() else None
        if customer is not None:
            extra_context.update(self._page_context(request, customer))
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(CustomerNote)
class CustomerNoteAdmin(admin.ModelAdmin):
    list_display = ("customer", "author", "created_at")
    list_select_related = ("customer", "author")
    search_fields = ("body", "customer__email")
    readonly_fields = ("customer", "author", "body", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # notes are added from the customer's page, through the service

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "masked", "scope_list", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix__exact")
    actions = ["revoke_selected"]
    form = ApiKeyForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (
            "name",
            "masked",
            "scope_list",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_by",
            "created_at",
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (
            ("name", "scopes", "expires_at")
            if obj is None
            else self.get_readonly_fields(request, obj)
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="Key")
    def masked(self, obj: ApiKey) -> str:
        return f"sbk_{obj.prefix}_…"

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        user = request.user if isinstance(request.user, User) else None
        key, raw_key = api_key_create(
            name=form.cleaned_data["name"],
            scopes=list(form.cleaned_data["scopes"]),
            expires_at=form.cleaned_data.get("expires_at"),
            created_by=user,
        )
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(
            request, f"The new key is {raw_key} — copy it now: it is shown only this once."
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        user = request.user if isinstance(request.user, User) else None
        for key in queryset:
            api_key_revoke(key=key, revoked_by=user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """The audit log, read-only for everyone: rows are written only by ``accounts.access.audit``.
    Viewing needs ``accounts.view_auditlogentry`` (the admin role has it)."""

    list_display = ("created_at", "action", "actor_label", "object_type", "object_label", "ip")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("object_type",)
    # Searched by get_search_results, each term through an index.
    search_fields = ("object_id__exact",)
    search_help_text = "Exact username (or the one tried on a failed login) or object id."
    fields = (
        "created_at",
        "action",
        "actor",
        "actor_label",
        "object_type",
        "object_id",
        "object_label",
        "summary",
        "changes",
        "ip",
        "request_id",
    )
    readonly_fields = fields
    actions = None

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditLogEntry], search_term: str
    ) -> tuple[QuerySet[AuditLogEntry], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        actors = ids_matching(User.objects.filter(username=term))
        return queryset.filter(
            Q(actor_id__in=actors) | Q(actor_label=term) | Q(object_id=term)
        ), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
