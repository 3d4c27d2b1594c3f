"""The audit log: one entry per audited action with who, what, values, where; append-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from accounts.access.audit import audit_record
from accounts.access.roles import ADMIN, sync_roles
from accounts.models import AuditLogEntry, Customer
from integrations.models import WebhookEvent
from payments.models import RefundStatus
from payments.services import refund_approve, refund_reject, refund_request
from tests.factories import make_customer, make_paid_payment, make_staff

pytestmark = pytest.mark.django_db

A = AuditLogEntry.Action
PASSWORD = "pw-for-tests-only"
REQUEST_ID = "req-audit-0001"


def _entries(action: str):
    return list(AuditLogEntry.objects.filter(action=action))


def _only(action: str) -> AuditLogEntry:
    found = _entries(action)
    assert len(found) == 1, found
    return found[0]


# --- logins ------------------------------------------------------------------------------------


def test_login_through_the_admin_form_is_one_entry(client, admin_user):
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": PASSWORD, "next": "/admin/"},
        headers={"X-Request-ID": REQUEST_ID},
    )

    assert response.status_code == 302
    entry = _only(A.LOGIN)
    assert entry.actor == admin_user
    assert entry.actor_label == "admin"
    assert entry.ip == "127.0.0.1"
    assert entry.request_id == REQUEST_ID
    assert entry.created_at.utcoffset() == timedelta(0)
    assert not _entries(A.LOGIN_FAILED)


def test_failed_login_records_the_username_tried_and_no_actor(client, admin_user):
    response = client.post(
        "/admin/login/", {"username": "admin", "password": "wrong", "next": "/admin/"}
    )

    assert response.status_code == 200  # the form again
    entry = _only(A.LOGIN_FAILED)
    assert entry.actor is None
    assert entry.actor_label == "admin"
    assert entry.ip == "127.0.0.1"
    assert "wrong" not in str(entry.changes) + entry.summary
    assert not _entries(A.LOGIN)


def test_logout_is_one_entry(client, admin_user):
    client.force_login(admin_user)

    response = client.post("/admin/logout/")

    assert response.status_code == 200
    entry = _only(A.LOGOUT)
    assert entry.actor == admin_user


def test_the_ip_comes_from_x_forwarded_for_only_behind_trusted_proxies(
    client, admin_user, settings
):
    forwarded = {"HTTP_X_FORWARDED_FOR": "198.51.100.7, 203.0.113.9"}
    client.post("/admin/login/", {"username": "admin", "password": "x"}, **forwarded)
    assert _only(A.LOGIN_FAILED).ip == "127.0.0.1"

    settings.TRUSTED_PROXY_COUNT = 1
    client.post("/admin/login/", {"username": "nobody", "password": "x"}, **forwarded)
    assert AuditLogEntry.objects.get(actor_label="nobody").ip == "203.0.113.9"


# --- admin changes -----------------------------------------------------------------------------


def _customer_form(customer: Customer, **changes: str) -> dict[str, str]:
    data = {
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "tax_document": customer.tax_document,
        "identifiers-TOTAL_FORMS": "0",
        "identifiers-INITIAL_FORMS": "0",
        "identifiers-MIN_NUM_FORMS": "0",
        "identifiers-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_admin_change_of_a_customer_records_before_and_after_values(client, admin_user):
    customer = make_customer(name="Ana Souza", email="ana@example.test", phone="+5511987654321")
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_customer_change", args=[customer.pk]),
        _customer_form(customer, name="Ana S. Lima", phone="(11) 91234-5678"),
        headers={"X-Request-ID": REQUEST_ID},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    entry = _only(A.ADMIN_CHANGE)
    assert entry.actor == admin_user
    assert entry.object_type == ContentType.objects.get_for_model(Customer)
    assert entry.object_id == str(customer.pk)
    assert entry.object_label == "Ana S. Lima"
    assert entry.changes == {
        "name": ["Ana Souza", "Ana S. Lima"],
        "phone": ["+5511987654321", "+5511912345678"],
    }
    assert "Name" in entry.summary
    assert entry.request_id == REQUEST_ID
    assert entry.ip == "127.0.0.1"


def test_admin_add_and_delete_are_recorded(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:accounts_customer_add"),
        {**_customer_form(Customer(name="Bia")), "email": "bia@example.test"},
    )
    assert response.status_code == 302
    customer = Customer.objects.get(name="Bia")
    added = _only(A.ADMIN_ADD)
    assert added.object_id == str(customer.pk)
    assert added.changes == {"name": ["", "Bia"], "email": ["", "bia@example.test"]}

    key, _ = api_key_create(name="old storefront", scopes=["orders:read"])
    response = client.post(reverse("admin:accounts_apikey_delete", args=[key.pk]), {"post": "yes"})
    assert response.status_code == 302
    deleted = _only(A.ADMIN_DELETE)
    assert (deleted.object_id, deleted.actor) == (str(key.pk), admin_user)
    assert deleted.object_label == str(key)
    assert deleted.changes == {}


def test_a_password_change_in_the_admin_never_stores_the_password(client, admin_user):
    staff = make_staff("carla")
    client.force_login(admin_user)
    new_password = "N3w-pa55word-for-carla!"

    response = client.post(
        reverse("admin:auth_user_password_change", args=[staff.pk]),
        {"password1": new_password, "password2": new_password, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    entry = _only(A.ADMIN_CHANGE)
    assert entry.object_id == str(staff.pk)
    stored = str(entry.changes) + entry.summary
    assert new_password not in stored
    assert "password" not in {k.lower() for k in entry.changes}


def test_fields_named_like_secrets_are_never_stored():
    entry = audit_record(
        action=A.ADMIN_CHANGE,
        changes={
            "name": ["a", "b"],
            "password": ["old", "new"],
            "key_hash": ["x", "y"],
            "webhook_secret": ["s1", "s2"],
            "access_token": ["t1", "t2"],
        },
    )
    entry.refresh_from_db()
    assert entry.changes == {"name": ["a", "b"]}
    assert entry.actor_label == "system"


# --- permission denials ------------------------------------------------------------------------


def test_a_403_in_the_admin_is_recorded_for_the_denied_role(client, support_user):
    sync_roles()
    client.force_login(support_user)

    response = client.get(reverse("admin:accounts_apikey_changelist"))

    assert response.status_code == 403
    entry = _only(A.PERMISSION_DENIED)
    assert entry.actor == support_user
    assert entry.changes == {"path": "/admin/accounts/apikey/", "method": "GET"}
    assert entry.summary == "GET /admin/accounts/apikey/"


def test_an_api_key_denied_by_scope_is_recorded_with_its_label():
    cache.clear()
    key, raw = api_key_create(name="storefront", scopes=["orders:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert api.post("/api/v1/orders/", {}, format="json").status_code == 403

    entry = _only(A.PERMISSION_DENIED)
    assert entry.actor is None
    assert entry.actor_label == f"api-key:{key.prefix}"
    assert entry.changes["path"] == "/api/v1/orders/"


def test_allowed_requests_record_no_denial(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:accounts_customer_changelist")).status_code == 200
    assert not _entries(A.PERMISSION_DENIED)


# --- webhook replay and refund decisions -------------------------------------------------------


def test_webhook_replay_from_the_admin_action_is_one_entry(client, admin_user):
    event = WebhookEvent.objects.create(
        provider="audit-test",
        event_id="evt_audit_1",
        event_type="thing.happened",
        body="{}",
        status=WebhookEvent.Status.DEAD,
        attempts=3,
    )
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:integrations_webhookevent_changelist"),
        {"action": "replay_selected", "_selected_action": [str(event.pk)]},
        headers={"X-Request-ID": REQUEST_ID},
    )

    assert response.status_code == 302
    event.refresh_from_db()
    entry = _only(A.WEBHOOK_REPLAY)
    assert entry.actor == admin_user
    assert entry.object_type == ContentType.objects.get_for_model(WebhookEvent)
    assert entry.object_id == str(event.pk)
    assert entry.changes == {"status": ["dead", event.status]}
    assert entry.request_id == REQUEST_ID


def test_refund_approval_and_rejection_are_recorded(
    support_user, finance_user, other_finance_user, settings
):
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = 100_000
    small = refund_request(
        payment=make_paid_payment(amount=5_000), requested_by=support_user, reason="defective"
    )
    refund_approve(refund=small, approver=finance_user)
    approved = _only(A.REFUND_APPROVED)
    assert (approved.actor, approved.object_id) == (finance_user, str(small.pk))
    assert approved.changes == {"status": [RefundStatus.REQUESTED, RefundStatus.APPROVED]}

    large = refund_request(
        payment=make_paid_payment(amount=200_000), requested_by=support_user, reason="defective"
    )
    refund_approve(refund=large, approver=finance_user, reauthenticated_at=timezone.now())
    added = _only(A.REFUND_APPROVAL_ADDED)
    assert (added.actor, added.object_id) == (finance_user, str(large.pk))
    assert len(_entries(A.REFUND_APPROVED)) == 1  # not yet approved

    other = refund_request(
        payment=make_paid_payment(amount=5_000), requested_by=support_user, reason="defective"
    )
    refund_reject(refund=other, approver=other_finance_user, reason="Not eligible")
    rejected = _only(A.REFUND_REJECTED)
    assert (rejected.actor, rejected.object_id) == (other_finance_user, str(other.pk))
    assert rejected.summary == "Not eligible"


def test_a_refused_refund_decision_records_nothing(support_user):
    from payments.exceptions import SelfApprovalForbidden

    refund = refund_request(
        payment=make_paid_payment(amount=5_000), requested_by=support_user, reason="defective"
    )
    with pytest.raises(SelfApprovalForbidden):
        refund_approve(refund=refund, approver=support_user)
    # The request itself is recorded (refund_requested); no decision is.
    decisions = [A.REFUND_APPROVAL_ADDED, A.REFUND_APPROVED, A.REFUND_REJECTED]
    assert not AuditLogEntry.objects.filter(action__in=decisions).exists()


# --- append-only -------------------------------------------------------------------------------


def test_entries_cannot_be_updated_or_deleted():
    entry = audit_record(action=A.EXPORT, actor_label="system")

    with pytest.raises(TypeError):
        AuditLogEntry.objects.filter(pk=entry.pk).update(action=A.LOGIN)
    with pytest.raises(TypeError):
        AuditLogEntry.objects.filter(pk=entry.pk).delete()
    entry.action = A.LOGIN
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()

    assert AuditLogEntry.objects.get(pk=entry.pk).action == A.EXPORT


def test_the_admin_shows_the_log_read_only_to_the_admin_role(client):
    sync_roles()
    admin_role_user = make_staff("boss", role=ADMIN)
    client.force_login(admin_role_user)
    entry = _only(A.LOGIN)
    change_url = reverse("admin:accounts_auditlogentry_change", args=[entry.pk])

    assert client.get(reverse("admin:accounts_auditlogentry_changelist")).status_code == 200
    assert client.get(change_url).status_code == 200  # the view page
    assert client.post(change_url, {"action": A.EXPORT}).status_code == 403
    delete_url = reverse("admin:accounts_auditlogentry_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:accounts_auditlogentry_add")).status_code == 403

    assert AuditLogEntry.objects.get(pk=entry.pk).action == A.LOGIN
    assert not _entries(A.ADMIN_CHANGE) and not _entries(A.ADMIN_DELETE)


def test_roles_without_the_view_permission_cannot_read_the_log(client, finance_user):
    sync_roles()
    client.force_login(finance_user)
    response = client.get(reverse("admin:accounts_auditlogentry_changelist"))
    assert response.status_code == 403


def test_the_admin_search_finds_entries_by_username_and_object_id(client, admin_user):
    customer = make_customer(name="Searchable")
    audit_record(action=A.EXPORT, actor=admin_user, obj=customer)
    client.force_login(admin_user)
    url = reverse("admin:accounts_auditlogentry_changelist")

    by_object = client.get(url, {"q": str(customer.pk), "action__exact": A.EXPORT})
    by_user = client.get(url, {"q": "admin", "action__exact": A.EXPORT})

    assert by_object.status_code == by_user.status_code == 200
    assert "Searchable" in by_object.content.decode()
    assert "Searchable" in by_user.content.decode()


def test_deleting_several_objects_with_the_admin_action_records_each(client, admin_user):
    keys = [api_key_create(name=f"key {n}", scopes=["orders:read"])[0] for n in range(3)]
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [k.pk for k in keys[:2]]},
    )

    assert response.status_code == 302
    deleted = _entries(A.ADMIN_DELETE)
    assert sorted(e.object_id for e in deleted) == sorted(str(k.pk) for k in keys[:2])
    assert {e.actor for e in deleted} == {admin_user}


def test_deleting_one_object_with_the_admin_action_records_it_once(client, admin_user):
    key, _ = api_key_create(name="lonely", scopes=["orders:read"])
    client.force_login(admin_user)

    client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [key.pk]},
    )

    assert _only(A.ADMIN_DELETE).object_id == str(key.pk)
