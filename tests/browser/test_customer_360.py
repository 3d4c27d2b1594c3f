"""The customer page as a 360 view, clicked in Chromium (issue 14 item 5): the header's health
parts, filtering the timeline by source, searching notes and messages, a message's states in one
entry, and the edit form behind its button."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from django.urls import reverse

from accounts.customers.services import customer_note_add
from accounts.models import Customer
from notifications.models import NotificationChannel
from notifications.services import (
    notification_mark_delivered,
    notification_mark_read,
    notification_mark_sent,
    notification_queue,
)
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_order, make_paid_payment, make_staff


def _busy_customer() -> Customer:
    ana = make_customer(name="Ana Souza", email="ana@example.test")
    make_paid_payment(order=make_order(customer=ana, amount=12_000))
    message = notification_queue(
        customer=ana,
        channel=NotificationChannel.EMAIL,
        template="order_paid",
        body="Your parcel leaves tomorrow",
    )
    notification_mark_sent(notification=message, provider="sandbox", provider_message_id="m-1")
    notification_mark_delivered(notification=message)
    notification_mark_read(notification=message)
    staff = make_staff("writer")
    customer_note_add(customer=ana, author=staff, body="Asked about the parcel; call back Friday")
    customer_note_add(customer=ana, author=staff, body="Prefers WhatsApp")
    return ana


def _page(ana: Customer) -> str:
    return reverse("admin:accounts_customer_change", args=[ana.pk])


def _types(browser: Browser) -> list[str]:
    return [row.get_attribute("data-type") for row in browser.find_all("tr.timeline-entry")]


def test_support_sees_the_header_and_the_health_scores_parts(browser: Browser):
    ana = _busy_customer()
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(_page(ana))
    browser.shot("header")

    assert browser.find("#header-lifetime-value").is_displayed()
    assert "R$ 120,00" in browser.text("#header-lifetime-value")
    assert browser.text("#health-score") == "70"
    parts = browser.find_all("#header-health tr[data-part]")
    assert [p.get_attribute("data-part") for p in parts] == [
        "activity",
        "payments",
        "disputes_refunds",
        "delivery",
        "consent",
    ]
    assert all(p.is_displayed() for p in parts)
    assert "0/30" in parts[0].text and "No product usage seen" in parts[0].text
    assert "Not linked to HubSpot" in browser.text("#header-crm")


def test_support_filters_by_messages_and_sees_one_entry_per_message(browser: Browser):
    ana = _busy_customer()
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(_page(ana))

    browser.find('#timeline input[name="source"][value="messages"]').click()
    browser.click("#timeline-filter-submit")
    browser.shot("messages only")

    assert parse_qs(urlparse(browser.path).query) == {"source": ["messages"]}
    # Ours, read, and the two e-mails the paid order sent by itself (the order_paid and the
    # payment_receipt rules): one line each.
    rows = browser.find_all("tr.timeline-entry")
    assert all(t.startswith("notification.") for t in _types(browser))
    subjects = [row.find_element("css selector", "td.subject").text for row in rows]
    assert len(subjects) == len(set(subjects)) == 3
    entry = browser.find('tr.timeline-message[data-type="notification.read"]')
    assert entry.get_attribute("data-state") == "read"
    states = [li.get_attribute("data-state") for li in entry.find_elements("css selector", "li")]
    assert states == ["queued", "sent", "delivered", "read"]


def test_support_searches_notes_and_messages(browser: Browser):
    ana = _busy_customer()
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(_page(ana))

    browser.type("#timeline-search", "parcel")
    browser.click("#timeline-filter-submit")
    browser.shot("searched for parcel")

    assert parse_qs(urlparse(browser.path).query) == {"q": ["parcel"]}
    assert _types(browser) == ["note.added", "notification.read"]  # not the rule's e-mail
    assert browser.find("#timeline-search").get_attribute("value") == "parcel"

    browser.type("#timeline-search", "refund policy")
    browser.click("#timeline-filter-submit")
    browser.shot("nothing found")
    assert not browser.has("tr.timeline-entry")
    assert "whose note or message text contains" in browser.text(".timeline-empty")

    browser.click(".timeline-reset")  # Show everything
    assert "payment.succeeded" in _types(browser)


def test_admin_opens_edit_details_and_saves(browser: Browser):
    ana = _busy_customer()
    browser.sign_in(make_staff("boss", role="admin"))
    browser.visit(_page(ana))
    assert not browser.find("#id_name").is_displayed()
    browser.shot("form folded")

    browser.find("#edit-details").click()
    assert browser.find("#id_name").is_displayed()
    browser.type("#id_name", "Ana Souza Lima")
    browser.shot("form open, name changed")
    browser.click('#customer_form input[name="_continue"]')
    browser.shot("saved")

    ana.refresh_from_db()
    assert ana.name == "Ana Souza Lima"
    assert urlparse(browser.path).path == _page(ana)
    assert not browser.find("#id_name").is_displayed()  # folded again after the save
