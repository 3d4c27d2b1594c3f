"""Fixtures for the delivery relay tests.

Each test starts from an empty subscriber registry (domain apps' own subscribers would otherwise
add deliveries to the events these tests record) and registers what it needs through
``subscribe``, which unregisters them afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations.deliveries import registry
from integrations.deliveries.dispatch import enqueue_committed_deliveries
from integrations.deliveries.registry import Subscriber, register_subscriber, unregister_subscriber
from integrations.events import domain_event_committed
from integrations.models import DomainEvent
from tests.integrations.deliveries.helpers import EVENT_TYPE

RECEIVER_UID = "integrations.deliveries.enqueue"


@pytest.fixture(autouse=True)
def isolated_subscribers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_SUBSCRIBERS", {})


@pytest.fixture
def subscribe() -> Iterator[Callable[..., Subscriber]]:
    names: list[str] = []

    def _subscribe(
        name: str,
        handle: Callable[[DomainEvent], None],
        *,
        event_types: frozenset[str] = frozenset({EVENT_TYPE}),
        **options: Any,
    ) -> Subscriber:
        subscriber = Subscriber(name=name, event_types=event_types, handle=handle, **options)
        register_subscriber(subscriber)
        names.append(name)
        return subscriber

    yield _subscribe
    for name in names:
        unregister_subscriber(name)


@pytest.fixture
def no_enqueue() -> Iterator[None]:
    """Deliveries are written but not handed to the cluster, as after a crash at commit."""
    assert domain_event_committed.disconnect(dispatch_uid=RECEIVER_UID)
    yield
    domain_event_committed.connect(enqueue_committed_deliveries, dispatch_uid=RECEIVER_UID)
