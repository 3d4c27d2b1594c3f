from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Customer, User
from notifications.models import Notification
from notifications.services import notification_mark_sent, notification_queue
from tests.factories import make_customer


@pytest.fixture
def notification(customer: Customer) -> Notification:
    notification = notification_queue(
        customer=customer, channel="whatsapp", template="order_shipped", body="On its way"
    )
    return notification_mark_sent(
        notification=notification, provider="zapi", provider_message_id="wamid.ABC"
    )


@pytest.fixture
def other(db: None) -> Notification:
    return notification_queue(
        customer=make_customer(email="bruno@example.test"),
        channel="email",
        template="order_paid",
        body="Paid",
    )


@pytest.fixture
def staff_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


@pytest.mark.usefixtures("other")
def test_changelist_lists_notifications(staff_client: Client, notification: Notification) -> None:
    response = staff_client.get(reverse("admin:notifications_notification_changelist"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "order_shipped" in content
    assert "bruno@example.test" in content


@pytest.mark.usefixtures("other")
@pytest.mark.parametrize("term", ["+5511987654321", "wamid.ABC", "ANA@example.test"])
def test_changelist_search(staff_client: Client, notification: Notification, term: str) -> None:
    response = staff_client.get(reverse("admin:notifications_notification_changelist"), {"q": term})

    assert response.status_code == 200
    assert [n.pk for n in response.context["cl"].result_list] == [notification.pk]


@pytest.mark.usefixtures("other")
def test_changelist_filters(staff_client: Client, notification: Notification) -> None:
    response = staff_client.get(
        reverse("admin:notifications_notification_changelist"),
        {"channel__exact": "whatsapp", "status__exact": "sent"},
    )

    assert response.status_code == 200
    assert [n.pk for n in response.context["cl"].result_list] == [notification.pk]


def test_change_page_is_a_read_only_view(staff_client: Client, notification: Notification) -> None:
    response = staff_client.get(notification.get_absolute_url())
    post = staff_client.post(notification.get_absolute_url(), {"status": "read"})

    assert response.status_code == 200
    assert "wamid.ABC" in response.content.decode()
    assert post.status_code == 403
    assert Notification.objects.get(pk=notification.pk).status == "sent"


def test_admin_cannot_add_or_delete(staff_client: Client, notification: Notification) -> None:
    add = staff_client.get(reverse("admin:notifications_notification_add"))
    delete = staff_client.post(
        reverse("admin:notifications_notification_delete", args=[notification.pk]), {"post": "yes"}
    )

    assert add.status_code == 403
    assert delete.status_code == 403
    assert Notification.objects.filter(pk=notification.pk).exists()


def test_a_stored_rule_that_does_not_compile_lists_its_problems_instead_of_failing(
    staff_client: Client,
) -> None:
    """A rule written past its form (a data migration, the shell) whose condition and body do
    not compile: the change page answers 200 and the preview names both problems."""
    from notifications.models import NotificationRule

    rule = NotificationRule.objects.get(template="order_paid")
    NotificationRule.objects.filter(pk=rule.pk).update(
        condition="order.total_amount >", body_en="{% if %}"
    )

    response = staff_client.get(
        reverse("admin:notifications_notificationrule_change", args=[rule.pk])
    )

    assert response.status_code == 200
    preview = response.context["preview"]
    assert not preview.texts
    assert any("Condition error" in p for p in preview.problems), preview.problems
    assert any(p.startswith("Body (en): Template error") for p in preview.problems)
