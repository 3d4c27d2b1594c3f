"""Subscribers to domain events. Domain apps register in ``AppConfig.ready``:

    register_subscriber(Subscriber(name="shipping.ship_paid_order", event_types={"order.paid"},
                                   handle=ship_paid_order))

``handle(event)`` must be idempotent on the event id: a delivery may run more than once. What it
raises decides what happens next (``relay.is_terminal``): ``ProviderRejected`` (the provider said
no; a 4xx other than 408/409/429) ends the delivery at once as dead, with the reason in
``last_error``; anything else, ``ProviderUnavailable`` first, is retried with backoff until the
subscriber's ``max_attempts``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from integrations.models import DomainEvent


@dataclass(frozen=True)
class Subscriber:
    name: str
    event_types: frozenset[str]
    handle: Callable[[DomainEvent], None]
    max_attempts: int | None = None
    """Attempts before the delivery is dead; ``None`` means ``settings.DELIVERY_MAX_ATTEMPTS``.
    A terminal error (a provider's rejection) makes it dead at the first attempt."""
    atomic: bool = True
    """Run ``handle`` in one transaction, rolled back when it raises. A handler that waits on a
    provider should set ``False`` and keep its own transactions short: on SQLite an open
    transaction holds the database's single write lock for as long as the handler runs."""
    wants: Callable[[str], bool] | None = None
    """For a subscriber of many types (``"*"``): asked when an event is recorded whether this
    type concerns it right now; no Delivery row is written when it says no. Must be cheap (it
    runs inside ``record_event``): e.g. a short-lived cache of the outbound webhooks'
    subscriptions, so a usage batch writes no deliveries nobody will send."""


ANY_EVENT_TYPE = "*"
_SUBSCRIBERS: dict[str, Subscriber] = {}


def register_subscriber(subscriber: Subscriber) -> None:
    existing = _SUBSCRIBERS.get(subscriber.name)
    if existing is not None and existing != subscriber:
        raise ValueError(f"Subscriber {subscriber.name!r} is registered twice, differently.")
    _SUBSCRIBERS[subscriber.name] = subscriber


def unregister_subscriber(name: str) -> None:
    _SUBSCRIBERS.pop(name, None)


def get_subscriber(name: str) -> Subscriber | None:
    return _SUBSCRIBERS.get(name)


def registered_subscribers() -> list[Subscriber]:
    """Every registered subscriber, by name (the admin's filter lists them without a query)."""
    return sorted(_SUBSCRIBERS.values(), key=lambda s: s.name)


def subscribers_for(event_type: str) -> Iterable[Subscriber]:
    """The subscribers of ``event_type``: those that list it, and those that list ``"*"``
    (every type, e.g. the outbound webhooks' fan-out)."""
    return [
        s
        for s in _SUBSCRIBERS.values()
        if (event_type in s.event_types or ANY_EVENT_TYPE in s.event_types)
        and (s.wants is None or s.wants(event_type))
    ]
