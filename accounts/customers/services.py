"""Writes for customers and notes. Each runs in one transaction and records a DomainEvent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from accounts.access.audit import Action, audit_record
from accounts.customers.exceptions import EmptyNote, NothingToMerge
from accounts.customers.validators import (
    normalize_phone,
    normalize_tax_document,
    tax_document_kind,
)
from accounts.models import Customer, CustomerIdentifier, CustomerNote, User
from integrations.events import record_event
from integrations.transitions import lock

NOTE_EXCERPT_LENGTH = 140
DUPLICATE_CUSTOMER = (
    "Another customer already has this e-mail address or CPF/CNPJ "
    "(duplicates are merged with manage.py merge_customers)."
)


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
    language: str = "",
    time_zone: str = "",
    actor: User | None = None,
) -> Customer:
    """Create a customer with a normalised phone (E.164) and document (CPF/CNPJ); ``language``
    (pt-br, en) is the language of their messages, ``time_zone`` (an IANA name) the zone of
    their quiet hours; blank for the defaults.

    Raises ValidationError for an invalid phone or document, or an e-mail (case-insensitively)
    or CPF/CNPJ another customer has, even one created concurrently; nothing is written then."""
    cleaned = _clean_contact(phone=phone, tax_document=tax_document)
    try:
        with transaction.atomic():
            customer = Customer(
                name=name.strip(),
                email=email.strip().lower(),
                phone=cleaned["phone"],
                tax_document=cleaned["tax_document"],
                tax_document_type=cleaned["kind"],
                language=language.strip().lower(),
                time_zone=time_zone.strip(),
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
    except IntegrityError as exc:  # the unique constraints, lost to a concurrent write
        raise ValidationError(DUPLICATE_CUSTOMER, code="duplicate_customer") from exc
    return customer


def customer_find_or_create(
    *, email: str, name: str, phone: str = "", tax_document: str = ""
) -> Customer:
    """The customer with this e-mail (case-insensitive), else a new one. Two concurrent calls
    for one new e-mail return the same customer. Raises ValidationError for invalid contact data
    or a CPF/CNPJ that another customer has, when one has to be created."""
    existing = Customer.objects.filter(email__iexact=email.strip()).order_by("id").first()
    if existing is not None:
        return existing
    try:
        return customer_create(name=name, email=email, phone=phone, tax_document=tax_document)
    except ValidationError:
        raced = Customer.objects.filter(email__iexact=email.strip()).order_by("id").first()
        if raced is None:
            raise
        return raced


def customer_update(*, customer: Customer, actor: User | None = None, **changes: Any) -> Customer:
    """Change name, email, phone, tax document, time zone or quiet hours; records which fields
    changed (not values). Raises ValidationError for invalid data or an e-mail/CPF/CNPJ another
    customer has."""
    allowed = {
        "name",
        "email",
        "phone",
        "tax_document",
        "time_zone",
        "quiet_hours_start",
        "quiet_hours_end",
    }
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
            elif field in ("email", "time_zone"):
                value = value.strip().lower() if field == "email" else value.strip()
            if getattr(customer, field) != value:
                setattr(customer, field, value)
                changed.append(field)
        if not changed:
            return customer
        customer.full_clean()
        try:
            with transaction.atomic():
                customer.save(update_fields=[*changed, "tax_document_type", "updated_at"])
        except IntegrityError as exc:  # the unique constraints, lost to a concurrent write
            raise ValidationError(DUPLICATE_CUSTOMER, code="duplicate_customer") from exc
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


def customer_plan_activate(
    *, customer: Customer, plan: str, activated_at: datetime, source: str
) -> bool:
    """Activate ``plan`` for the customer (a won CRM deal): sets the plan and its time and
    records ``customer.plan_activated`` (timeline; the outbound webhooks announce it).
    Idempotent: the same plan already active changes nothing and answers False."""
    with transaction.atomic():
        customer = lock(customer)
        plan = plan.strip()[:200]
        if customer.plan_name == plan and customer.plan_activated_at is not None:
            return False
        customer.plan_name = plan
        customer.plan_activated_at = activated_at
        customer.save(update_fields=["plan_name", "plan_activated_at", "updated_at"])
        record_event(
            type="customer.plan_activated",
            customer=customer,
            subject=customer,
            actor_label="system",
            occurred_at=activated_at,
            data={
                "plan": plan,
                "activated_at": activated_at.astimezone(UTC).isoformat(),
                "source": source[:200],
            },
        )
    return True


def customer_note_add(*, customer: Customer, author: User, body: str) -> CustomerNote:
    """Add a staff note; it shows on the timeline. Raises EmptyNote for an empty note."""
    body = body.strip()
    if not body:
        raise EmptyNote("A note needs some text.")
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


@dataclass(frozen=True)
class CustomerMergeResult:
    kept: Customer
    merged_ids: list[int]
    merged_labels: list[str]
    moved: dict[str, int] = field(default_factory=dict)
    filled: dict[str, str] = field(default_factory=dict)


MERGE_FIELDS = ("pk", "name", "email", "phone", "tax_document", "tax_document_type", "updated_at")


def customer_relations() -> list[Any]:
    """The relations pointing at a customer whose tables exist in this database: a merge runs
    before the migrations that wait for it, so a table a later migration adds (the consent
    ledger) may not be there yet, and then nothing in it can point at a duplicate."""
    tables = set(connection.introspection.table_names())
    found = []
    for relation in Customer._meta.related_objects:
        model: Any = relation.related_model
        if model._meta.db_table in tables:
            found.append(relation)
    return found


def customer_merge(
    *,
    keep: Customer,
    duplicates: Sequence[Customer],
    actor: User | None = None,
    actor_label: str = "",
) -> CustomerMergeResult:
    """Fold ``duplicates`` into ``keep``: every row that points at a duplicate (orders, notes,
    identifiers, notifications, timeline DomainEvents, and any model added later) points at
    ``keep`` afterwards; ``keep``'s blank e-mail, phone or CPF/CNPJ take the first duplicate's
    value; the duplicates are deleted. One transaction with the rows locked, a
    ``customer.merged`` DomainEvent on ``keep`` and one audit entry.

    Not idempotent by nature (the duplicates are gone afterwards): a second call raises
    ``Customer.DoesNotExist``. Raises NothingToMerge when there is nothing to merge."""
    duplicate_ids = sorted({d.pk for d in duplicates} - {keep.pk})
    if not duplicate_ids:
        raise NothingToMerge("Name at least one customer other than the one kept.")
    with transaction.atomic():
        locked = {
            c.pk: c
            # The columns a merge reads and writes only: merge_customers runs on databases whose
            # later accounts migrations (new customer columns) wait for the merge.
            for c in Customer.objects.select_for_update()
            .only(*MERGE_FIELDS)
            .filter(pk__in=[keep.pk, *duplicate_ids])
            .order_by("pk")
        }
        missing = {keep.pk, *duplicate_ids} - set(locked)
        if missing:
            raise Customer.DoesNotExist(f"Customers {sorted(missing)} no longer exist.")
        keep = locked[keep.pk]
        merged = [locked[pk] for pk in duplicate_ids]
        moved: dict[str, int] = {}
        for relation in customer_relations():
            if not (relation.one_to_many or relation.one_to_one):
                continue
            model: Any = relation.related_model
            name = relation.field.name
            if relation.one_to_one and model._base_manager.filter(**{name: keep}).exists():
                # One row per customer (the CRM record): the kept customer's stays.
                model._base_manager.filter(**{f"{name}__in": duplicate_ids}).delete()
                continue
            # The base manager is a plain one: DomainEvent's default manager refuses updates
            # (append-only). Re-pointing a fact at the surviving customer is the one change a
            # merge makes to it; what happened and when stay as written.
            count = model._base_manager.filter(**{f"{name}__in": duplicate_ids}).update(
                **{name: keep}
            )
            if count:
                moved[str(model._meta.verbose_name_plural)] = count
        filled: dict[str, str] = {}
        for field_name in ("email", "phone", "tax_document"):
            if not getattr(keep, field_name):
                value = next((getattr(m, field_name) for m in merged if getattr(m, field_name)), "")
                if value:
                    filled[field_name] = value
        if "tax_document" in filled:
            filled["tax_document_type"] = next(
                m.tax_document_type for m in merged if m.tax_document == filled["tax_document"]
            )
        labels = [f"{m.name} (#{m.pk})" for m in merged]
        # Every relation now points at ``keep``: nothing is left to collect or refuse. A plain
        # DELETE, because Django's delete collector would SELECT every column of each related
        # table, and merge_customers runs on databases whose later migrations (new columns of
        # those tables) wait for the merge.
        Customer.objects.filter(pk__in=duplicate_ids)._raw_delete(Customer.objects.db)
        if filled:
            for field_name, value in filled.items():
                setattr(keep, field_name, value)
            keep.save(update_fields=[*filled, "updated_at"])
        record_event(
            type="customer.merged",
            customer=keep,
            subject=keep,
            actor=actor,
            actor_label=actor_label or "system",
            data={"merged": ", ".join(labels), "merged_ids": duplicate_ids, "moved": moved},
        )
        audit_record(
            action=Action.CUSTOMER_MERGED,
            actor=actor,
            actor_label=actor_label,
            obj=keep,
            changes={
                "merged_customers": [labels, None],
                "moved": [None, moved],
                **{f: ["", v] for f, v in filled.items()},
            },
            summary=f"Merged {', '.join(labels)} into {keep.name} (#{keep.pk}).",
        )
    return CustomerMergeResult(
        kept=keep, merged_ids=duplicate_ids, merged_labels=labels, moved=moved, filled=filled
    )
