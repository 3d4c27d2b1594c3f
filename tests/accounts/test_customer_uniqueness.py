"""One customer per e-mail (case-insensitively) and per CPF/CNPJ: the database constraints, the
services, the admin's form errors, the merge of older duplicates (``merge_customers``) and the
migration that refuses a database still holding duplicates."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from accounts.customers import services
from accounts.customers.exceptions import NothingToMerge
from accounts.customers.services import (
    customer_create,
    customer_find_or_create,
    customer_identifier_link,
    customer_merge,
    customer_note_add,
    customer_update,
)
from accounts.models import AuditLogEntry, Customer, CustomerNote
from integrations.models import DomainEvent
from notifications.models import Notification
from orders.models import Order
from tests.factories import make_customer, make_order, make_staff

CPF_A = "52998224725"
CPF_B = "11144477735"
CNPJ = "11222333000181"

db = pytest.mark.django_db


def _form(**fields: str) -> dict[str, str]:
    data = {
        "name": "",
        "email": "",
        "phone": "",
        "tax_document": "",
        "identifiers-TOTAL_FORMS": "0",
        "identifiers-INITIAL_FORMS": "0",
        "identifiers-MIN_NUM_FORMS": "0",
        "identifiers-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(fields)
    return data


# --- the constraints and the services -----------------------------------------------------------


@db
def test_the_database_refuses_a_second_customer_with_the_same_email_in_any_case():
    Customer.objects.create(name="Ana", email="ana@example.test")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(name="Ana 2", email="ANA@Example.TEST")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(name="Ana 3", email="ana@example.test")
    # Blank is "no e-mail", not a value: any number of customers may have none.
    Customer.objects.create(name="No mail 1")
    Customer.objects.create(name="No mail 2")
    assert Customer.objects.count() == 3


@db
def test_the_database_refuses_a_second_customer_with_the_same_tax_document():
    Customer.objects.create(name="Ana", tax_document=CPF_A, tax_document_type="cpf")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(name="Bia", tax_document=CPF_A, tax_document_type="cpf")
    Customer.objects.create(name="Caio", tax_document=CNPJ, tax_document_type="cnpj")
    assert Customer.objects.count() == 2


@db
def test_services_refuse_duplicates_with_a_validation_error_and_write_nothing():
    ana = customer_create(name="Ana", email="ana@example.test", tax_document="529.982.247-25")
    events_before = DomainEvent.objects.count()

    with pytest.raises(ValidationError, match="e-mail address already exists"):
        customer_create(name="Ana again", email="Ana@Example.test")
    with pytest.raises(ValidationError, match="CPF/CNPJ already exists"):
        customer_create(name="Bia", email="bia@example.test", tax_document=CPF_A)
    bia = customer_create(name="Bia", email="bia@example.test")
    with pytest.raises(ValidationError, match="e-mail address already exists"):
        customer_update(customer=bia, email="ANA@example.test")
    with pytest.raises(ValidationError, match="CPF/CNPJ already exists"):
        customer_update(customer=bia, tax_document="529 982 247 25")

    assert list(Customer.objects.order_by("pk")) == [ana, bia]
    bia.refresh_from_db()
    assert (bia.email, bia.tax_document) == ("bia@example.test", "")
    assert DomainEvent.objects.count() == events_before + 1  # only Bia's creation


@db
def test_a_customer_keeps_its_own_email_and_document_on_update():
    ana = customer_create(name="Ana", email="ana@example.test", tax_document=CPF_A)
    updated = customer_update(customer=ana, name="Ana Lima", email="ANA@example.test")
    assert (updated.name, updated.email, updated.tax_document) == (
        "Ana Lima",
        "ana@example.test",
        CPF_A,
    )


@db
def test_find_or_create_returns_the_customer_a_concurrent_call_created(monkeypatch):
    """The API's find-or-create loses a race to another request creating the same e-mail: it
    returns that customer instead of failing."""
    real_create = services.customer_create

    def racing_create(**kwargs):
        real_create(name="Created meanwhile", email="race@example.test")
        return real_create(**kwargs)

    monkeypatch.setattr(services, "customer_create", racing_create)

    found = customer_find_or_create(email="Race@example.test", name="Second request")

    assert found.name == "Created meanwhile"
    assert Customer.objects.filter(email__iexact="race@example.test").count() == 1


@db
def test_an_api_order_with_a_document_another_customer_has_is_a_400_not_a_500(client):
    from accounts.access.api_keys import api_key_create

    customer_create(name="Ana", email="ana@example.test", tax_document=CPF_A)
    _, raw = api_key_create(name="shop", scopes=["orders:write"])
    response = client.post(
        "/api/v1/orders/",
        {
            "customer": {"email": "other@example.test", "name": "Other", "tax_document": CPF_A},
            "currency": "BRL",
            "lines": [{"sku": "A", "description": "A", "quantity": 1, "unit_amount": 1000}],
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {raw}",
    )
    assert response.status_code == 400, response.content
    assert "CPF/CNPJ already exists" in str(response.json())
    assert not Customer.objects.filter(email="other@example.test").exists()
    assert not Order.objects.exists()


# --- the admin ---------------------------------------------------------------------------------


@db
def test_admin_add_with_an_email_in_another_case_shows_a_form_error(client, admin_user):
    ana = make_customer(name="Ana Souza", email="ana@example.test")
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_customer_add"), _form(name="Ana 2", email="ANA@Example.test")
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert f"This e-mail address already belongs to customer Ana Souza (#{ana.pk})" in page
    assert "merge_customers" in page
    assert Customer.objects.count() == 1
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.ADMIN_ADD).exists()


@db
def test_admin_change_to_another_customers_cpf_shows_a_form_error(client, admin_user):
    ana = make_customer(name="Ana Souza", email="ana@example.test", tax_document=CPF_A)
    bia = make_customer(name="Bia", email="bia@example.test")
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_customer_change", args=[bia.pk]),
        _form(name="Bia", email="bia@example.test", tax_document="529.982.247-25"),
    )

    assert response.status_code == 200
    assert (
        f"This CPF/CNPJ already belongs to customer Ana Souza (#{ana.pk})"
        in response.content.decode()
    )
    bia.refresh_from_db()
    assert bia.tax_document == ""

    # Saving the customer with its own values is no conflict.
    own = client.post(
        reverse("admin:accounts_customer_change", args=[ana.pk]),
        _form(name="Ana Souza", email="ANA@example.test", tax_document=CPF_A),
    )
    assert own.status_code == 302


# --- merging duplicates ------------------------------------------------------------------------


@pytest.fixture
def duplicates_allowed(db: None) -> None:
    """Drops the two unique indexes inside the test's transaction (rolled back after it), so a
    test can hold the duplicates a database had before the constraints existed."""
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX customer_email_unique_ci")
        cursor.execute("DROP INDEX customer_tax_document_unique")


def _duplicate(**fields: str) -> Customer:
    return Customer.objects.create(**fields)


def test_merge_moves_orders_notes_identifiers_notifications_and_timeline(duplicates_allowed):
    staff = make_staff("merger", role="support")
    keep = make_customer(name="Ana Souza", email="ana@example.test")
    dup = _duplicate(name="ANA SOUZA", email="Ana@Example.test", phone="+5511987654321")
    order = make_order(customer=dup)
    note = customer_note_add(customer=dup, author=staff, body="Called about the parcel")
    identifier = customer_identifier_link(customer=dup, system="stripe", external_id="cus_1")
    notification = Notification.objects.create(
        customer=dup, channel="email", recipient="ana@example.test", template="t", body="b"
    )
    dup_events = set(DomainEvent.objects.filter(customer=dup).values_list("pk", flat=True))
    assert dup_events

    result = customer_merge(keep=keep, duplicates=[dup], actor=staff)

    assert not Customer.objects.filter(pk=dup.pk).exists()
    for row in (order, note, identifier, notification):
        row.refresh_from_db()
        assert row.customer_id == keep.pk, row
    assert dup_events <= set(DomainEvent.objects.filter(customer=keep).values_list("pk", flat=True))
    keep.refresh_from_db()
    assert keep.phone == "+5511987654321"  # the blank filled from the duplicate
    assert keep.email == "ana@example.test"  # a value the kept customer has stays
    assert result.merged_ids == [dup.pk]
    merged_event = DomainEvent.objects.filter(customer=keep, type="customer.merged").get()
    assert merged_event.actor == staff
    assert merged_event.data["merged_ids"] == [dup.pk]
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.CUSTOMER_MERGED)
    assert (entry.actor, entry.object_id) == (staff, str(keep.pk))
    assert entry.changes["merged_customers"] == [[f"ANA SOUZA (#{dup.pk})"], None]
    assert entry.changes["phone"] == ["", "+5511987654321"]


def test_merge_refuses_nothing_to_merge_and_a_vanished_customer(duplicates_allowed):
    keep = make_customer(name="Ana")
    with pytest.raises(NothingToMerge):
        customer_merge(keep=keep, duplicates=[keep])
    gone = Customer(pk=999_999, name="Gone")
    with pytest.raises(Customer.DoesNotExist):
        customer_merge(keep=keep, duplicates=[gone])
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.CUSTOMER_MERGED).exists()


def test_the_command_is_a_dry_run_by_default_and_changes_nothing(duplicates_allowed, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops-alice")
    keep = make_customer(name="Ana", email="ana@example.test")
    dup = _duplicate(name="Ana dup", email="ANA@example.test")
    make_order(customer=dup)

    out = io.StringIO()
    call_command("merge_customers", stdout=out)

    text = out.getvalue()
    assert f"Keep #{keep.pk} Ana" in text
    assert f"would merge #{dup.pk} Ana dup" in text
    assert "1 orders" in text
    assert "Dry run: 1 group(s)" in text
    assert Customer.objects.filter(pk=dup.pk).exists()
    assert Order.objects.get().customer_id == dup.pk
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.CUSTOMER_MERGED).exists()


def test_the_command_merges_groups_found_by_email_and_document(duplicates_allowed, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops-alice")
    monkeypatch.delenv("SUDO_USER", raising=False)
    ana = make_customer(name="Ana", email="ana@example.test")
    # Same e-mail as Ana, and the same CPF as Ana B: all three are one person.
    _duplicate(name="Ana U", email="ANA@example.test", tax_document=CPF_A)
    ana_b = _duplicate(name="Ana B", email="ana.b@example.test", tax_document=CPF_A)
    # A separate pair by CNPJ.
    shop = _duplicate(name="Shop", tax_document=CNPJ)
    shop_again = _duplicate(name="Shop Ltda", tax_document=CNPJ, email="shop@example.test")
    loner = make_customer(name="Loner", email="loner@example.test", tax_document=CPF_B)
    make_order(customer=ana_b)
    CustomerNote.objects.create(customer=shop_again, author=make_staff("s"), body="x")

    out = io.StringIO()
    call_command("merge_customers", "--apply", stdout=out)

    assert "Merged 2 group(s)." in out.getvalue()
    assert set(Customer.objects.values_list("pk", flat=True)) == {ana.pk, shop.pk, loner.pk}
    assert Order.objects.get().customer_id == ana.pk
    assert CustomerNote.objects.get().customer_id == shop.pk
    ana.refresh_from_db()
    shop.refresh_from_db()
    assert (ana.email, ana.tax_document) == ("ana@example.test", CPF_A)
    assert shop.email == "shop@example.test"
    entries = AuditLogEntry.objects.filter(action=AuditLogEntry.Action.CUSTOMER_MERGED)
    assert {e.object_id for e in entries} == {str(ana.pk), str(shop.pk)}
    assert {e.actor_label for e in entries} == {"os:ops-alice"}
    # Nothing is left for the constraints to refuse.
    out = io.StringIO()
    call_command("merge_customers", stdout=out)
    assert "No duplicate customers." in out.getvalue()


def test_the_command_merges_exactly_the_customers_named(duplicates_allowed):
    keep = make_customer(name="Keep", email="keep@example.test")
    other = make_customer(name="Other", email="other@example.test")
    make_order(customer=other)

    with pytest.raises(CommandError, match="together"):
        call_command("merge_customers", "--keep", str(keep.pk))
    with pytest.raises(CommandError, match="No customer"):
        call_command("merge_customers", "--keep", str(keep.pk), "--merge", "999999")
    call_command(
        "merge_customers", "--keep", str(keep.pk), "--merge", str(other.pk), stdout=io.StringIO()
    )
    assert Customer.objects.filter(pk=other.pk).exists()  # a dry run

    call_command(
        "merge_customers",
        "--keep",
        str(keep.pk),
        "--merge",
        str(other.pk),
        "--apply",
        stdout=io.StringIO(),
    )
    assert not Customer.objects.filter(pk=other.pk).exists()
    assert Order.objects.get().customer_id == keep.pk


# --- the migration -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
INSERT_DUPLICATES = """
from django.utils import timezone
from django.db import connection
now = timezone.now()
with connection.cursor() as cursor:
    for name, email in (("Ana", "ana@example.test"), ("Ana 2", "ANA@example.test")):
        cursor.execute(
            "INSERT INTO accounts_customer (name, email, phone, tax_document, "
            "tax_document_type, created_at, updated_at) VALUES (%s, %s, '', '', '', %s, %s)",
            [name, email, now, now],
        )
"""


@pytest.mark.slow
def test_the_migration_refuses_a_database_with_duplicates_until_they_are_merged(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dups.sqlite3'}",
        "REDIS_URL": "",
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    # A database of the release before: every table there, the constraints not yet.
    assert manage("migrate").returncode == 0
    assert manage("migrate", "accounts", "0004").returncode == 0
    assert manage("shell", "-c", INSERT_DUPLICATES).returncode == 0

    refused = manage("migrate")
    assert refused.returncode != 0
    assert "1 e-mail address(es)" in refused.stderr
    assert "manage.py merge_customers" in refused.stderr
    assert "Traceback" not in refused.stderr

    merged = manage("merge_customers", "--apply")
    assert merged.returncode == 0, merged.stderr
    assert "Merged 1 group(s)." in merged.stdout

    done = manage("migrate")
    assert done.returncode == 0, done.stderr
    check = manage(
        "shell",
        "-c",
        "from accounts.models import Customer; print(Customer.objects.count())",
    )
    assert check.stdout.strip().splitlines()[-1] == "1"
