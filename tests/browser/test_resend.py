"""Support resends a message from the customer's timeline and from the message's own page,
clicking in Chromium (issue 13 item 8); sales sees no button and is refused the URL."""

from __future__ import annotations

from django.urls import reverse

from accounts.models import Customer
from integrations.models import DomainEvent
from notifications.models import FollowUpReason, Notification, NotificationStatus
from notifications.services import notification_mark_failed, notification_queue
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_staff


def _failed_email() -> tuple[Customer, Notification]:
    ana = make_customer(name="Ana Souza", email="ana@example.test", phone="")
    original = notification_queue(
        customer=ana, channel="email", template="order_paid", subject="Paid", body="Thanks, Ana."
    )
    return ana, notification_mark_failed(notification=original, error="mailbox full")


def _customer_page(customer: Customer) -> str:
    return reverse("admin:accounts_customer_change", args=[customer.pk])


def test_support_resends_from_the_timeline_and_sees_the_new_message(browser: Browser) -> None:
    ana, original = _failed_email()
    ana.email = "ana.souza@example.test"  # changed since the message failed
    ana.save(update_fields=["email"])
    support = make_staff("support", role="support")
    browser.sign_in(support)

    browser.visit(_customer_page(ana))
    links = browser.find_all("#timeline a.resend-link")
    assert len(links) == 1  # one per message, on its newest line
    browser.shot("timeline with a failed message")
    browser.click_element(links[0])
    assert browser.path == reverse("admin:notifications_notification_resend", args=[original.pk])
    assert "Thanks, Ana." in browser.text("#resend-confirm")
    browser.find("#resend-to-current").click()
    browser.shot("confirm step")
    browser.click("#resend-confirm-button")
    browser.shot("timeline after the resend")

    copy = Notification.objects.get(previous=original)
    assert browser.path.startswith(_customer_page(ana))
    assert browser.messages() == [f"Resent as message #{copy.pk} to ana.souza@example.test."]
    assert copy.previous_reason == FollowUpReason.RESEND
    assert copy.recipient == "ana.souza@example.test"
    assert copy.status == NotificationStatus.SENT  # delivered after commit by its subscriber
    timeline = browser.text("#timeline")
    assert "resent to ana.souza@example.test" in timeline
    assert "'order_paid' to ana.souza@example.test sent" in timeline
    resent = DomainEvent.objects.get(type="notification.resent")
    assert resent.actor_id == support.pk


def test_support_resends_from_the_messages_page(browser: Browser) -> None:
    _, original = _failed_email()
    browser.sign_in(make_staff("support", role="support"))

    browser.visit(reverse("admin:notifications_notification_change", args=[original.pk]))
    browser.click("#resend-link")
    assert not browser.has("#resend-to-current")  # the address has not changed
    browser.click("#resend-confirm-button")

    copy = Notification.objects.get(previous=original)
    assert copy.recipient == "ana@example.test"
    assert browser.messages() == [f"Resent as message #{copy.pk} to ana@example.test."]


def test_sales_sees_no_resend_button_and_is_refused_the_url(browser: Browser) -> None:
    ana, original = _failed_email()
    browser.sign_in(make_staff("sales", role="sales"))

    browser.visit(_customer_page(ana))
    assert "mailbox full" in browser.text("#timeline")
    assert not browser.has("a.resend-link")
    browser.visit(reverse("admin:notifications_notification_change", args=[original.pk]))
    assert not browser.has("#resend-link")
    browser.visit(reverse("admin:notifications_notification_resend", args=[original.pk]))
    browser.shot("refused")

    assert browser.has(".permission-denied")  # the 403 page (the status: test_resend.py)
    assert Notification.objects.count() == 1
