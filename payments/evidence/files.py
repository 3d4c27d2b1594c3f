"""What a provider takes as an evidence document: PDF, PNG or JPEG (checked by their first bytes,
not the name the browser sent) of at most 5 MB (Stripe's file upload purpose
``dispute_evidence``); Asaas takes at most 11 files per chargeback dispute."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_ASAAS_FILES = 11
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def sniff_content_type(head: bytes) -> str:
    """The content type the first bytes of a file say, or '' when none we take."""
    return next((kind for magic, kind in SIGNATURES if head.startswith(magic)), "")


def evidence_file_check(upload: UploadedFile) -> str:
    """The content type of an uploaded evidence document. Raises ValidationError for an empty
    file, one over 5 MB or one that is not a PDF, PNG or JPEG."""
    size = upload.size or 0
    if size == 0:
        raise ValidationError("The file is empty.", code="empty")
    if size > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            "The file is larger than 5 MB, the most Stripe takes for dispute evidence.",
            code="too_large",
        )
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    content_type = sniff_content_type(head)
    if not content_type:
        raise ValidationError(
            "Only PDF, PNG or JPEG files are taken as dispute evidence.", code="file_type"
        )
    return content_type
