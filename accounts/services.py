"""Writes for customers and notes. Each runs in one transaction and records a DomainEvent."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Customer, CustomerIdentifier, CustomerNote, User
from accounts.validators import (
    normalize_phone,
    normalize_tax_document,
    tax_document_kind,
)
from integrations.events import record_event
from integrations.transitions import lock

NOTE_EXCERPT_LENGTH = 140


def _clean_contact(*, phone: str, tax_document: str) -> dict[str, str]:
    cleaned = {"phone": normalize_phone(phone) if phone else "", "tax_document": "", "kind": ""}
    if tax_document:
        document = normalize_tax_document(tax_document)
        cleaned["tax_document"] = document
        cleaned["kind"] = tax_document_kind(document)
    return cleaned


def customer_create(
    *,
    name: str,
    email: str = "",
    phone: str = "",
    tax_document: str = "",
    actor: User | None = None,
) -> Customer:
    """Create a customer with a normalised phone (E.164) and document (CPF/CNPJ).

    Raises ValidationError for an invalid phone or document; nothing is written then."""
    cleaned = _clean_contact(phone=phone, tax_document=tax_document)
    with transaction.atomic():
        customer = Customer(
            name=name.strip(),
            email=email.strip().lower(),
            phone=cleaned["phone"],
            tax_document=cleaned["tax_document"],
            tax_document_type=cleaned["kind"],
        )
        customer.full_clean()
        customer.save()
        record_event(
            type="customer.created",
            customer=customer,
            subject=customer,
            actor=actor,
            actor_label="system",
            data={"name": customer.name},
        )
    return customer


def customer_find_or_create(
    *, email: str, name: str, phone: str = "", tax_document: str = ""
) -> Customer:
    """The customer with this e-mail (case-insensitive, oldest first), else a new one.
    Raises ValidationError for invalid contact data when one has to be created."""
    existing = Customer.objects.filter(email__iexact=email.strip()).order_by("id").first()
    if existing is not None:
        return existing
    return customer_create(name=name, email=email, phone=phone, tax_document=tax_document)


def customer_update(*, customer: Customer, actor: User | None = None, **changes: Any) -> Customer:
    """Change name, email, phone or tax document; records which fields changed (not values)."""
    allowed = {"name", "email", "phone", "tax_document"}
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"customer_update does not change {sorted(unknown)}")
    cleaned = _clean_contact(
        phone=changes.get("phone", "") or "", tax_document=changes.get("tax_document", "") or ""
    )
    with transaction.atomic():
        customer = lock(customer)
        changed: list[str] = []
        for field, value in changes.items():
            if field == "phone":
                value = cleaned["phone"]
            elif field == "tax_document":
                value = cleaned["tax_document"]
                customer.tax_document_type = cleaned["kind"]
            elif field == "email":
                value = value.strip().lower()
            if getattr(customer, field) != value:
                setattr(customer, field, value)
                changed.append(field)
        if not changed:
            return customer
        customer.full_clean()
        customer.save(update_fields=[*changed, "tax_document_type", "updated_at"])
        record_event(
            type="customer.updated",
            customer=customer,
            subject=customer,
            actor=actor,
            actor_label="system",
            data={"fields": ", ".join(changed)},
        )
    return customer


def customer_identifier_link(
    *, customer: Customer, system: str, external_id: str
) -> CustomerIdentifier:
    """Idempotent: linking the same id twice returns the existing row. An id already linked to
    another customer raises IntegrityError."""
    with transaction.atomic():
        identifier, created = CustomerIdentifier.objects.get_or_create(
            system=system, external_id=external_id, defaults={"customer": customer}
        )
        if identifier.customer_id != customer.pk:
            raise IntegrityError(f"{system} id {external_id} belongs to another customer.")
        if created:
            record_event(
                type="customer.identifier_linked",
                customer=customer,
                subject=customer,
                actor_label="system",
                data={"system": system, "external_id": external_id},
            )
    return identifier


def customer_note_add(*, customer: Customer, author: User, body: str) -> CustomerNote:
    """Add a staff note; it shows on the timeline. Raises ValueError for an empty note."""
    body = body.strip()
    if not body:
        raise ValueError("A note needs some text.")
    with transaction.atomic():
        note = CustomerNote.objects.create(customer=customer, author=author, body=body)
        excerpt = (
            body if len(body) <= NOTE_EXCERPT_LENGTH else body[: NOTE_EXCERPT_LENGTH - 1] + "…"
        )
        record_event(
            type="note.added",
            customer=customer,
            subject=note,
            actor=author,
            data={"excerpt": excerpt},
        )
    return note
