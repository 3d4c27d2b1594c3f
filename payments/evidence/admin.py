"""Dispute evidence in the admin: finance assembles it (Stripe's text fields, documents uploaded
inline to the evidence storage) and submits it from the dispute's page. Registered by
``payments.admin``, which imports this module."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminFileWidget
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from payments.evidence.files import evidence_file_check
from payments.evidence.models import (
    STRIPE_TEXT_FIELDS,
    DisputeEvidence,
    EvidenceDocument,
    EvidenceStatus,
)

EDITABLE = (EvidenceStatus.DRAFT, EvidenceStatus.FAILED)
SUBMIT_PERMISSION = "payments.submit_disputeevidence"


def evidence_editable(evidence: DisputeEvidence | None) -> bool:
    return evidence is None or evidence.status in EDITABLE


class _Linked(str):
    """A stored file's name whose ``url`` is its download through the admin."""

    url = ""


class PrivateFileWidget(AdminFileWidget):
    """The stored file links to its download through the admin, never to the storage (local
    evidence has no public URL; an S3 object's would be signed for anyone holding the page)."""

    def format_value(self, value: Any) -> Any:
        value = super().format_value(value)
        instance = getattr(value, "instance", None)
        if not value or instance is None or instance.pk is None:
            return value
        linked = _Linked(str(instance))
        linked.url = reverse("admin:payments_disputeevidence_document", args=[instance.pk])
        return linked


class EvidenceDocumentForm(forms.ModelForm):
    """A PDF, PNG or JPEG of at most 5 MB, checked by its content; its name, size and type are
    kept on the row."""

    class Meta:
        model = EvidenceDocument
        fields = ("kind", "file")
        widgets = {"file": PrivateFileWidget}

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload and hasattr(upload, "content_type"):  # a new upload, not the stored file
            self.content_type = evidence_file_check(upload)
        return upload

    def save(self, commit: bool = True) -> EvidenceDocument:
        document = super().save(commit=False)
        content_type = getattr(self, "content_type", "")
        if content_type:
            upload = self.cleaned_data["file"]
            document.original_name = upload.name[:255]
            document.size = upload.size
            document.content_type = content_type
            document.provider_file_id = ""  # a new file: uploaded to the provider again
        if commit:
            document.save()
        return document


class EvidenceDocumentInline(admin.TabularInline):
    model = EvidenceDocument
    form = EvidenceDocumentForm
    extra = 1
    fields = ("kind", "file", "original_name", "size", "content_type", "provider_file_id")
    readonly_fields = ("original_name", "size", "content_type", "provider_file_id")
    verbose_name = "document"
    verbose_name_plural = "documents (PDF, PNG or JPEG, at most 5 MB each)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return evidence_editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return evidence_editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return evidence_editable(obj) and super().has_delete_permission(request, obj)


@admin.register(DisputeEvidence)
class DisputeEvidenceAdmin(admin.ModelAdmin):
    list_display = ("dispute", "status", "due", "submitted_at", "submitted_by")
    list_filter = ("status",)
    list_select_related = ("dispute", "submitted_by")
    search_fields = ("dispute__provider_dispute_id__exact",)
    search_help_text = "Provider dispute id (exact)."
    raw_id_fields = ("dispute",)
    inlines = (EvidenceDocumentInline,)
    actions = None
    fieldsets = (
        (None, {"fields": ("dispute", "status", "submitted_at", "submitted_by", "last_error")}),
        (
            "Evidence (Stripe takes these fields; Asaas takes the documents only)",
            {"fields": STRIPE_TEXT_FIELDS},
        ),
    )

    @admin.display(description="Evidence due", ordering="dispute__evidence_due_by")
    def due(self, obj: DisputeEvidence) -> Any:
        return obj.dispute.evidence_due_by or "-"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fixed = ("status", "submitted_at", "submitted_by", "last_error")
        if obj is None:
            return fixed
        if not evidence_editable(obj):
            return ("dispute", *fixed, *STRIPE_TEXT_FIELDS)
        return ("dispute", *fixed)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # what was (or will be) told to the provider is kept

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "documents/<int:document_id>/",
                self.admin_site.admin_view(self.document_view),
                name="payments_disputeevidence_document",
            )
        ]
        return custom + super().get_urls()

    def document_view(self, request: HttpRequest, document_id: int) -> HttpResponseBase:
        """The stored document, as a download (read from the evidence storage: local or S3)."""
        if not request.user.has_perm("payments.view_evidencedocument"):
            raise PermissionDenied("Your role cannot read dispute evidence.")
        document = get_object_or_404(EvidenceDocument, pk=document_id)
        return FileResponse(
            document.file.open("rb"),
            as_attachment=True,
            filename=document.original_name or document.file.name.rsplit("/", 1)[-1],
            content_type=document.content_type or "application/octet-stream",
        )

    def _to_dispute(self, obj: DisputeEvidence) -> HttpResponse:
        return HttpResponseRedirect(obj.dispute.get_absolute_url() + "#evidence")

    def response_add(
        self, request: HttpRequest, obj: DisputeEvidence, post_url_continue: str | None = None
    ) -> HttpResponse:
        response = super().response_add(request, obj, post_url_continue)
        if "_continue" in request.POST or "_addanother" in request.POST:
            return response
        return self._to_dispute(obj)

    def response_change(self, request: HttpRequest, obj: DisputeEvidence) -> HttpResponse:
        response = super().response_change(request, obj)
        if "_continue" in request.POST or "_addanother" in request.POST:
            return response
        return self._to_dispute(obj)

    def save_model(
        self, request: HttpRequest, obj: DisputeEvidence, form: Any, change: bool
    ) -> None:
        if change and not evidence_editable(
            DisputeEvidence.objects.filter(pk=obj.pk).only("status").first()
        ):
            return  # submitted meanwhile: nothing changes
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
