"""``manage.py merge_customers``: fold duplicate customers (same e-mail case-insensitively, or
same CPF/CNPJ) into one. A dry run unless ``--apply``.

Without ids, every group of duplicates is found (a customer sharing an e-mail with one and a
CPF/CNPJ with another makes one group of three) and the oldest customer of each group is kept.
``--keep ID --merge ID [ID ...]`` merges exactly those. Each merge moves orders, notes,
identifiers, notifications and timeline events to the kept customer (``customer_merge``), and is
one audit-log entry naming the OS user who ran the command.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q
from django.db.models.functions import Lower

from accounts.customers.services import customer_merge, customer_relations
from accounts.models import Customer
from integrations.audit_hook import os_user_label


def duplicate_groups() -> list[list[Customer]]:
    """Customers that share an e-mail (case-insensitively) or a CPF/CNPJ, grouped transitively,
    each group oldest first; groups ordered by their oldest customer."""
    emails = (
        Customer.objects.exclude(email="")
        .values(address=Lower("email"))
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("address", flat=True)
    )
    documents = (
        Customer.objects.exclude(tax_document="")
        .values("tax_document")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("tax_document", flat=True)
    )
    # Only the columns this release's 0004 had: the command runs before the later migrations.
    candidates = list(
        Customer.objects.only("pk", "email", "tax_document")
        .annotate(address=Lower("email"))
        .filter(
            (Q(address__in=list(emails)) & ~Q(email=""))
            | (Q(tax_document__in=list(documents)) & ~Q(tax_document=""))
        )
        .order_by("pk")
    )
    parent: dict[int, int] = {c.pk: c.pk for c in candidates}

    def root(pk: int) -> int:
        while parent[pk] != pk:
            parent[pk] = parent[parent[pk]]
            pk = parent[pk]
        return pk

    first_by_key: dict[tuple[str, str], int] = {}
    for customer in candidates:
        keys = [("email", customer.email.lower()), ("doc", customer.tax_document)]
        for key in keys:
            if not key[1]:
                continue
            if key in first_by_key:
                a, b = root(first_by_key[key]), root(customer.pk)
                parent[max(a, b)] = min(a, b)
            else:
                first_by_key[key] = customer.pk
    groups: dict[int, list[Customer]] = {}
    for customer in candidates:
        groups.setdefault(root(customer.pk), []).append(customer)
    return [members for _, members in sorted(groups.items()) if len(members) > 1]


def _related_counts(customer: Customer) -> str:
    counts = []
    for relation in customer_relations():
        model: Any = relation.related_model
        count = model._base_manager.filter(**{relation.field.name: customer}).count()
        if count:
            counts.append(f"{count} {model._meta.verbose_name_plural}")
    return ", ".join(counts) or "nothing attached"


def _describe(customer: Customer) -> str:
    contact = ", ".join(v for v in (customer.email, customer.tax_document) if v) or "no contact"
    return f"#{customer.pk} {customer.name} <{contact}> ({_related_counts(customer)})"


class Command(BaseCommand):
    help = (
        "Merge duplicate customers (same e-mail case-insensitively, or same CPF/CNPJ) into one: "
        "orders, notes, identifiers, notifications and timeline events move to the kept "
        "customer. Dry run unless --apply. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep", type=int, help="Id of the customer to keep.")
        parser.add_argument(
            "--merge", type=int, nargs="+", default=[], help="Ids of customers to fold into it."
        )
        parser.add_argument(
            "--apply", action="store_true", help="Really merge (default: show what would happen)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["keep"]) != bool(options["merge"]):
            raise CommandError("Give --keep and --merge together, or neither (all duplicates).")
        if options["keep"]:
            ids = [options["keep"], *options["merge"]]
            if options["keep"] in options["merge"]:
                raise CommandError("--merge must not name the customer kept.")
            found = Customer.objects.in_bulk(ids)
            missing = sorted(set(ids) - set(found))
            if missing:
                raise CommandError(f"No customer with id {missing}.")
            groups = [[found[pk] for pk in ids]]
        else:
            groups = duplicate_groups()
        if not groups:
            self.stdout.write("No duplicate customers.")
            return
        apply = options["apply"]
        actor_label = os_user_label()
        for keep, *merged in groups:
            self.stdout.write(f"Keep {_describe(keep)}")
            for customer in merged:
                self.stdout.write(f"  {'merge' if apply else 'would merge'} {_describe(customer)}")
            if apply:
                result = customer_merge(keep=keep, duplicates=merged, actor_label=actor_label)
                moved = ", ".join(f"{n} {what}" for what, n in result.moved.items()) or "nothing"
                self.stdout.write(f"  merged; moved {moved}")
        if apply:
            self.stdout.write(self.style.SUCCESS(f"Merged {len(groups)} group(s)."))
        else:
            self.stdout.write(
                f"Dry run: {len(groups)} group(s) would be merged. Nothing changed; "
                "run again with --apply to merge."
            )
