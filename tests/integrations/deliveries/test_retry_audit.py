"""A manual retry of a delivery (an operations write) is in the audit log with who retried it; a
refused retry (the delivery is not failed or dead) leaves no entry."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from accounts.models import AuditLogEntry
from integrations.deliveries.relay import delivery_retry
from integrations.exceptions import InvalidTransition
from integrations.models import Delivery
from tests.integrations.deliveries.helpers import Recorder, deliveries_of, emit

pytestmark = pytest.mark.django_db


def _delivery(customer, subscribe, status: str) -> Delivery:
    subscribe("crm.sync_note", Recorder("crm"))
    (delivery,) = deliveries_of(emit(customer)).values()
    Delivery.objects.filter(pk=delivery.pk).update(status=status, attempts=8)
    delivery.refresh_from_db()
    return delivery


def test_a_manual_retry_is_audited(customer, subscribe, admin_user):
    delivery = _delivery(customer, subscribe, Delivery.Status.DEAD)

    delivery_retry(delivery=delivery, actor=admin_user)

    [entry] = AuditLogEntry.objects.filter(action="delivery_retried")
    assert entry.actor == admin_user
    assert entry.object_type == ContentType.objects.get_for_model(Delivery)
    assert entry.object_id == str(delivery.pk)
    assert entry.changes == {"status": ["dead", "pending"]}


def test_a_refused_retry_is_not_audited(customer, subscribe, admin_user):
    delivery = _delivery(customer, subscribe, Delivery.Status.SUCCEEDED)

    with pytest.raises(InvalidTransition):
        delivery_retry(delivery=delivery, actor=admin_user)

    assert not AuditLogEntry.objects.filter(action="delivery_retried").exists()
