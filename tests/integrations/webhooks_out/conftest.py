from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction

from accounts.customers.services import customer_note_add
from accounts.models import Customer
from integrations.models import DomainEvent, WebhookEndpoint
from integrations.webhooks_out.services import endpoint_create
from tests.factories import make_staff
from tests.support.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


@pytest.fixture
def make_endpoint(receiver: Receiver) -> Callable[..., WebhookEndpoint]:
    def _make(
        *, event_types: list[str] | None = None, path: str = "/hooks", url: str = ""
    ) -> WebhookEndpoint:
        endpoint, secret = endpoint_create(
            url=url or f"{receiver.url}{path}", event_types=event_types or ["*"]
        )
        receiver.secrets.append(secret)
        return endpoint

    return _make


@pytest.fixture
def commit_note(
    customer: Customer, django_capture_on_commit_callbacks: Any
) -> Callable[..., DomainEvent]:
    """Add a staff note (a ``note.added`` domain event) and run what its commit sets off:
    the fan-out delivery and the drain, inline (the test cluster is synchronous)."""
    author = make_staff("writer")

    def _commit(body: str = "Called about the parcel.") -> DomainEvent:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            customer_note_add(customer=customer, author=author, body=body)
        return DomainEvent.objects.filter(type="note.added").latest("id")

    return _commit
