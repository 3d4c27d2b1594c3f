import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.customers.exceptions import EmptyNote
from accounts.customers.services import (
    customer_create,
    customer_identifier_link,
    customer_note_add,
    customer_update,
)
from accounts.models import Customer, CustomerIdentifier
from integrations.models import DomainEvent
from tests.factories import make_customer


def test_customer_create_normalises_and_records_event(db):
    customer = customer_create(
        name=" Ana Souza ",
        email="Ana@Example.TEST",
        phone="(11) 98765-4321",
        tax_document="529.982.247-25",
    )
    customer.refresh_from_db()
    assert (customer.name, customer.email) == ("Ana Souza", "ana@example.test")
    assert customer.phone == "+5511987654321"
    assert (customer.tax_document, customer.tax_document_type) == ("52998224725", "cpf")
    event = DomainEvent.objects.get(customer=customer)
    assert event.type == "customer.created"
    assert event.subject_id == str(customer.pk)


@pytest.mark.parametrize(
    "fields", [{"phone": "123"}, {"tax_document": "111.111.111-11"}, {"email": "not-an-email"}]
)
def test_customer_create_rejects_bad_contact_data_and_writes_nothing(db, fields):
    with pytest.raises(ValidationError):
        customer_create(name="X", **fields)
    assert not Customer.objects.exists()
    assert not DomainEvent.objects.exists()


def test_customer_update_records_changed_fields_only(customer):
    before = DomainEvent.objects.count()
    customer_update(customer=customer, name="Ana S. Souza", phone="+55 11 98765-4321")
    event = DomainEvent.objects.latest("id")
    assert DomainEvent.objects.count() == before + 1
    assert event.type == "customer.updated" and event.data == {"fields": "name"}
    customer_update(customer=customer, name="Ana S. Souza")
    assert DomainEvent.objects.count() == before + 1


def test_identifier_link_is_idempotent_and_unique_per_system(customer):
    first = customer_identifier_link(customer=customer, system="stripe", external_id="cus_123")
    again = customer_identifier_link(customer=customer, system="stripe", external_id="cus_123")
    assert first.pk == again.pk
    assert CustomerIdentifier.objects.count() == 1
    assert DomainEvent.objects.filter(type="customer.identifier_linked").count() == 1
    with pytest.raises(IntegrityError):
        customer_identifier_link(customer=make_customer(), system="stripe", external_id="cus_123")


def test_note_add_needs_text_and_lands_on_timeline(customer, support_user):
    with pytest.raises(EmptyNote, match="needs some text"):
        customer_note_add(customer=customer, author=support_user, body="   ")
    assert not customer.notes.exists()
    note = customer_note_add(customer=customer, author=support_user, body="Prefers WhatsApp")
    event = DomainEvent.objects.get(type="note.added")
    assert event.actor == support_user and event.data["excerpt"] == "Prefers WhatsApp"
    assert event.subject_id == str(note.pk)
