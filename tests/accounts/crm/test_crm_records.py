"""The CRM record is one per customer: merging two linked customers keeps the kept one's."""

from __future__ import annotations

import pytest

from accounts.crm.services import crm_contacts_synced
from accounts.customers.services import customer_merge
from accounts.models import CrmRecord, CustomerIdentifier
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def test_merging_two_linked_customers_keeps_the_kept_ones_crm_record() -> None:
    keep = make_customer(email="keep@example.test")
    duplicate = make_customer(email="dup@example.test")
    crm_contacts_synced(
        provider="hubspot", contact_ids={keep.pk: "1", duplicate.pk: "2"}, requested={}
    )

    customer_merge(keep=keep, duplicates=[duplicate])

    [record] = CrmRecord.objects.all()
    assert (record.customer_id, record.contact_id) == (keep.pk, "1")
    assert set(
        CustomerIdentifier.objects.filter(system="hubspot").values_list(
            "customer_id", "external_id"
        )
    ) == {(keep.pk, "1"), (keep.pk, "2")}


def test_merging_moves_the_duplicates_crm_record_when_the_kept_has_none() -> None:
    keep = make_customer(email="keep@example.test")
    duplicate = make_customer(email="dup@example.test")
    crm_contacts_synced(provider="hubspot", contact_ids={duplicate.pk: "2"}, requested={})

    customer_merge(keep=keep, duplicates=[duplicate])

    assert CrmRecord.objects.get().customer_id == keep.pk
