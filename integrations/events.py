"""Domain events: the registry of types, ``record_event`` and the after-commit announcement.

Every service that changes state calls ``record_event`` inside its transaction, so a rolled-back
service leaves no event. The same transaction writes one Delivery row per subscriber of the type
(the outbox). After commit the ``domain_event_committed`` signal announces the event; the signal
decides nothing, ``integrations.deliveries`` hands each Delivery to the task cluster.

Payloads: every type declares the shape of its ``data`` as a frozen, keyword-only dataclass that
subclasses ``Payload`` (``MoneyPayload`` when it carries an amount and currency), declared next
to the type in the emitting app's ``events.py``. Field types are ``str``, ``int``, ``bool``,
``list[...]``, ``dict[str, ...]`` and ``X | None`` of those; a field without a default is
required. ``record_event`` takes ``data`` as a dict (or the payload object) and refuses, with
InvalidEventPayload and nothing written, a missing or unknown key, a value of the wrong type or
data that is not JSON. Readers get the typed object back with ``event_payload(event)``: rows
written before a field existed read it as its type's empty value ("", 0, [], None). A type's
``summary`` is a format string over its payload's fields and properties, checked when the type
is registered; ``Payload.example()`` builds an example of any payload (tests, docs).
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import string
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from typing import Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

import structlog
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from integrations.bulk import insert_rows
from integrations.deliveries.registry import subscribers_for
from integrations.exceptions import InvalidEventPayload, UnknownEventType
from integrations.models import Delivery, DomainEvent
from integrations.money import format_money

log = structlog.get_logger(__name__)

_history_only: contextvars.ContextVar[bool] = contextvars.ContextVar("history_only", default=False)


@contextmanager
def recording_history() -> Iterator[None]:
    """Record events without Delivery rows: for seeding or importing history whose reactions
    (payments taken, parcels shipped, customers told) already happened elsewhere. An event
    recorded so with an ``occurred_at`` is also dated as recorded then (``recorded_at``), as it
    would have been had Switchboard been there: the timelines order by the recorded time."""
    token = _history_only.set(True)
    try:
        yield
    finally:
        _history_only.reset(token)


domain_event_committed = Signal()
"""Sent with ``event=<DomainEvent>`` once the transaction that recorded it has committed, and
``delivery_ids``: the pks of its Delivery rows (``None`` when the database did not return them)."""


@dataclass(frozen=True, kw_only=True)
class Payload:
    """Base of every event type's payload; subclasses are frozen, keyword-only dataclasses."""

    example_values: ClassVar[Mapping[str, Any]] = {}
    """Values ``example()`` uses instead of the ones it derives from the field types."""

    def as_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Self:
        """The payload of a stored row, never refused: a missing or mistyped value (a row
        written before the field existed) reads as its type's empty value."""
        values = {
            name: data[name] if name in data and _conforms(data[name], hint) else _empty(hint)
            for name, hint in payload_fields(cls).items()
        }
        return cls(**values)

    @classmethod
    def example(cls) -> Self:
        """An example payload: ``example_values`` along the class's bases, else a value derived
        from each field's type (``"ex-<field>"`` for a string, 1999 for an integer)."""
        overrides: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            overrides.update(vars(klass).get("example_values", {}))
        return cls(
            **{
                name: overrides[name] if name in overrides else _example(name, hint)
                for name, hint in payload_fields(cls).items()
            }
        )


@dataclass(frozen=True, kw_only=True)
class MoneyPayload(Payload):
    """A payload with an amount in minor units and its ISO 4217 currency."""

    amount: int
    currency: str

    example_values: ClassVar[Mapping[str, Any]] = {"currency": "BRL"}

    @property
    def money(self) -> str:
        return format_money(self.amount, self.currency)


_FIELDS: dict[type[Payload], dict[str, Any]] = {}


def payload_fields(payload: type[Payload]) -> dict[str, Any]:
    """The payload's fields and their resolved types, in declaration order."""
    if payload not in _FIELDS:
        hints = get_type_hints(payload)
        _FIELDS[payload] = {f.name: hints[f.name] for f in dataclasses.fields(payload)}
    return _FIELDS[payload]


_DEFAULTS: dict[type[Payload], dict[str, Any]] = {}


def _defaults(payload: type[Payload]) -> dict[str, Any]:
    """Each field's name -> a callable giving its default (raising for a required field,
    which ``validate`` has checked is present)."""
    if payload not in _DEFAULTS:
        found: dict[str, Any] = {}
        for f in dataclasses.fields(payload):
            if f.default is not dataclasses.MISSING:
                found[f.name] = partial(lambda value: value, f.default)
            elif f.default_factory is not dataclasses.MISSING:
                found[f.name] = f.default_factory
            else:
                found[f.name] = partial(_missing, f.name)
        _DEFAULTS[payload] = found
    return _DEFAULTS[payload]


def _missing(name: str) -> Any:
    raise KeyError(name)


_REQUIRED: dict[type[Payload], frozenset[str]] = {}


def _required(payload: type[Payload]) -> frozenset[str]:
    if payload not in _REQUIRED:
        _REQUIRED[payload] = frozenset(
            f.name
            for f in dataclasses.fields(payload)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
    return _REQUIRED[payload]


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _supported(hint: Any) -> bool:
    origin, args = get_origin(hint), get_args(hint)
    if _is_union(hint):
        return all(arg is type(None) or _supported(arg) for arg in args)
    if origin is list:
        return _supported(args[0])
    if origin is dict:
        return args[0] is str and _supported(args[1])
    return hint in (str, int, bool)


@cache
def _shape(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    return get_origin(hint), get_args(hint)


def _conforms(value: Any, hint: Any) -> bool:
    if hint is str:
        return isinstance(value, str)
    origin, args = _shape(hint)
    if origin in (Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_conforms(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(key, str) and _conforms(item, args[1]) for key, item in value.items()
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _empty(hint: Any) -> Any:
    if _is_union(hint):
        return None if type(None) in get_args(hint) else _empty(get_args(hint)[0])
    origin = get_origin(hint) or hint
    return {str: "", int: 0, bool: False, list: [], dict: {}}[origin]


def _example(name: str, hint: Any) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if _is_union(hint):
        return _example(name, next(arg for arg in args if arg is not type(None)))
    if origin is list:
        return [_example(name, args[0])]
    if origin is dict:
        return {f"ex-{name}": _example(name, args[1])}
    return {str: f"ex-{name}", int: 1999, bool: True}[hint]


def _describe(hint: Any) -> str:
    if get_origin(hint) is None and isinstance(hint, type):
        return hint.__name__
    return str(hint)


@dataclass(frozen=True)
class EventType:
    name: str
    label: str
    summary: str = ""
    """Format string over the payload's fields and properties (``{money}``, ``{order}``)."""
    payload: type[Payload] = field(kw_only=True)

    def __post_init__(self) -> None:
        if not (
            isinstance(self.payload, type)
            and issubclass(self.payload, Payload)
            and dataclasses.is_dataclass(self.payload)
            and self.payload.__dataclass_params__.frozen  # type: ignore[attr-defined]
        ):
            raise TypeError(f"{self.name}: the payload must be a frozen Payload dataclass.")
        fields = payload_fields(self.payload)
        unsupported = [name for name, hint in fields.items() if not _supported(hint)]
        if unsupported:
            raise TypeError(f"{self.name}: unsupported payload field types: {unsupported}.")
        for _, placeholder, _, _ in string.Formatter().parse(self.summary):
            if placeholder is None:
                continue
            if placeholder not in fields and not isinstance(
                getattr(self.payload, placeholder, None), property
            ):
                raise TypeError(
                    f"{self.name}: the summary's {{{placeholder}}} is neither a field nor a "
                    f"property of {self.payload.__name__}."
                )

    @property
    def kind(self) -> str:
        return self.name.split(".", 1)[0]

    def render(self, payload: Payload) -> str:
        """The summary line for ``payload``; the label when the type has no summary."""
        if not self.summary:
            return self.label
        return self.summary.format_map(_Attributes(payload))

    def validate(self, data: Mapping[str, Any] | Payload | None) -> dict[str, Any]:
        """``data`` as it is stored, once it matches the payload (missing defaults filled in).
        Raises InvalidEventPayload listing every problem."""
        if isinstance(data, Payload):
            if not isinstance(data, self.payload):
                raise InvalidEventPayload(
                    event_type=self.name,
                    problems=[f"expected {self.payload.__name__}, got {type(data).__name__}"],
                )
            data = data.as_data()
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InvalidEventPayload(
                event_type=self.name, problems=[f"data must be a mapping, not {type(data)}"]
            )
        fields = payload_fields(self.payload)
        problems = [
            f"{name!r} is missing"
            for name in fields
            if name in _required(self.payload) and name not in data
        ]
        problems += [
            f"{key!r} is not a field of {self.payload.__name__}"
            for key in data
            if key not in fields
        ]
        problems += [
            f"{name!r} must be {_describe(hint)}, not {type(data[name]).__name__}"
            for name, hint in fields.items()
            if name in data and not _conforms(data[name], hint)
        ]
        if problems:
            raise InvalidEventPayload(event_type=self.name, problems=problems)
        # The payload's values with its defaults filled in, copied through JSON: for the field
        # types payloads allow (checked above) that is what the dataclass's ``asdict`` gives,
        # at a fraction of the cost (bulk ingestion validates thousands per second).
        filled = {
            name: data[name] if name in data else default()
            for name, default in _defaults(self.payload).items()
        }
        try:
            return dict(json.loads(json.dumps(filled, allow_nan=False)))
        except (TypeError, ValueError) as exc:
            raise InvalidEventPayload(
                event_type=self.name, problems=[f"not JSON-serialisable: {exc}"]
            ) from None


class _Attributes(dict[str, Any]):
    def __init__(self, payload: Payload) -> None:
        super().__init__()
        self.payload = payload

    def __missing__(self, key: str) -> Any:
        return getattr(self.payload, key)


_REGISTRY: dict[str, EventType] = {}


def register_event_types(*types: EventType) -> None:
    for event_type in types:
        existing = _REGISTRY.get(event_type.name)
        if existing is not None and existing != event_type:
            raise ValueError(f"Event type {event_type.name!r} is registered twice, differently.")
        _REGISTRY[event_type.name] = event_type


def get_event_type(name: str) -> EventType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEventType(f"Event type {name!r} is not registered.") from None


def registered_event_types() -> Mapping[str, EventType]:
    """Every registered type by name: the way to walk them all (tests, docs)."""
    return dict(_REGISTRY)


def event_kinds() -> list[str]:
    return sorted({t.kind for t in _REGISTRY.values()})


def event_payload(event: DomainEvent) -> Payload | None:
    """The event's typed payload (``Payload.from_stored``); None for an unregistered type."""
    event_type = _REGISTRY.get(event.type)
    if event_type is None:
        return None
    data = event.data if isinstance(event.data, Mapping) else {}
    return event_type.payload.from_stored(data)


def render_summary(event: DomainEvent) -> str:
    """One line for the timeline; needs no query."""
    event_type = _REGISTRY.get(event.type)
    payload = event_payload(event)
    if event_type is None or payload is None:
        return event.type
    return event_type.render(payload)


def record_event(
    *,
    type: str,
    customer: models.Model | None = None,
    subject: models.Model | None = None,
    actor: models.Model | None = None,
    actor_label: str = "",
    data: Mapping[str, Any] | Payload | None = None,
    occurred_at: datetime | None = None,
) -> DomainEvent:
    """Write a DomainEvent and its Delivery rows in the caller's transaction; announce it after
    commit.

    Must run inside ``transaction.atomic``: an event outside the transaction of the change it
    describes could survive that change's rollback. Costs one INSERT, plus one bulk INSERT of
    deliveries when the type has subscribers. Raises UnknownEventType for unregistered types and
    InvalidEventPayload for ``data`` that does not match the type's payload.
    """
    event_type = get_event_type(type)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event must be called inside the service's transaction.atomic.")
    clean = event_type.validate(data)
    event = DomainEvent(
        type=event_type.name,
        kind=event_type.kind,
        customer_id=customer.pk if customer is not None else None,
        actor_id=actor.pk if actor is not None else None,
        actor_label=actor_label if actor is None else "",
        data=clean,
    )
    if occurred_at is not None:
        event.occurred_at = occurred_at
        if _history_only.get():
            event.recorded_at = occurred_at
    if subject is not None:
        event.subject_type = ContentType.objects.get_for_model(subject)
        event.subject_id = str(subject.pk)
        event.subject_label = str(subject)[:200]
    event.save()
    delivery_ids: tuple[int, ...] | None = ()
    subscribers = [] if _history_only.get() else list(subscribers_for(event_type.name))
    if subscribers:
        now = timezone.now()
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                event=event,
                subscriber=subscriber.name,
                status=Delivery.Status.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for subscriber in subscribers
        )
        pks = [delivery.pk for delivery in deliveries]
        delivery_ids = None if None in pks else tuple(pks)
    transaction.on_commit(partial(_announce, event, delivery_ids))
    return event


@dataclass(frozen=True)
class NewEvent:
    """One event of ``record_events``: about the customer with this id, with this data."""

    customer_id: int | None
    data: Mapping[str, Any] | Payload
    occurred_at: datetime | None = None


def record_events(*, type: str, events: Sequence[NewEvent], actor_label: str = "") -> int:
    """``record_event`` for many events of one type at once (bulk ingestion): the same
    validation, transaction rule, Delivery rows and after-commit announcements, in multi-row
    INSERTs (``integrations.bulk.insert_rows``) instead of a statement per event. Returns how many
    were written. Raises as ``record_event`` does, before writing anything."""
    if not events:
        return 0
    event_type = get_event_type(type)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_events must be called inside the service's transaction.atomic.")
    now = timezone.now()
    history = _history_only.get()
    columns = (
        "type",
        "kind",
        "customer",
        "actor_label",
        "data",
        "occurred_at",
        "recorded_at",
        "subject_id",
        "subject_label",
    )
    values = [
        (
            event_type.name,
            event_type.kind,
            new.customer_id,
            actor_label,
            event_type.validate(new.data),
            new.occurred_at or now,
            new.occurred_at if history and new.occurred_at else now,
            "",
            "",
        )
        for new in events
    ]
    pks = insert_rows(DomainEvent, columns, values, returning_pk=True)
    created = [
        DomainEvent(
            pk=pk, **dict(zip(("type", "kind", "customer_id", *columns[3:]), row, strict=True))
        )
        for pk, row in zip(pks, values, strict=True)
    ]
    subscribers = [] if history else list(subscribers_for(event_type.name))
    by_event: dict[int, list[int]] = {}
    if subscribers:
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                event=event,
                subscriber=subscriber.name,
                status=Delivery.Status.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for event in created
            for subscriber in subscribers
        )
        for delivery in deliveries:
            by_event.setdefault(delivery.event_id, []).append(delivery.pk)
    for event in created:
        transaction.on_commit(partial(_announce, event, tuple(by_event.get(event.pk, ()))))
    return len(created)


def _announce(event: DomainEvent, delivery_ids: Sequence[int] | None = ()) -> None:
    for receiver, result in domain_event_committed.send_robust(
        sender=DomainEvent, event=event, delivery_ids=delivery_ids
    ):
        if isinstance(result, Exception):
            log.error(
                "domain_event.subscriber_failed",
                event_id=event.pk,
                event_type=event.type,
                receiver=getattr(receiver, "__qualname__", repr(receiver)),
                error=repr(result),
            )
