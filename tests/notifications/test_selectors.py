from __future__ import annotations

import pytest

from accounts.customers.search import customer_search
from accounts.models import Customer
from notifications.selectors import customer_ids_by_provider_message_id
from notifications.services import notification_mark_sent, notification_queue
from tests.factories import make_customer


@pytest.fixture
def sent(customer: Customer) -> None:
    notification = notification_queue(customer=customer, channel="email", template="t", body="b")
    notification_mark_sent(
        notification=notification, provider="sandbox", provider_message_id="msg-7f3a"
    )
    notification_queue(customer=make_customer(), channel="email", template="t", body="b")


@pytest.mark.usefixtures("sent")
def test_customer_search_finds_the_customer_by_provider_message_id(customer: Customer) -> None:
    assert list(customer_search("msg-7f3a")) == [customer]
    assert list(customer_ids_by_provider_message_id("msg-7f3a")) == [{"customer_id": customer.pk}]


@pytest.mark.usefixtures("sent")
@pytest.mark.parametrize("term", ["msg-7f", "MSG-7F3A-extra", "sandbox"])
def test_customer_search_by_message_id_matches_exactly(term: str) -> None:
    assert not customer_search(term).exists()
