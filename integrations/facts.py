"""Applying provider facts from webhooks through domain services, in any order.

A provider's facts about one object can arrive duplicated, late or out of order. Handlers apply
each through the owning service; a fact the object's state machine has already moved past
(``InvalidTransition``) is a no-op, so any permutation of the same facts ends in the same state.
A fact about an object we have not recorded yet raises ``ObjectNotReady``: the inbox retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import structlog
from django.db import models

from integrations.exceptions import AmountMismatch, InvalidTransition, ObjectNotReady
from integrations.webhooks.registry import HandlerOutcome, ParsedWebhook

log = structlog.get_logger(__name__)
M = TypeVar("M", bound=models.Model)
ASCII_DIGITS = frozenset("0123456789")
MAX_PK_DIGITS = 18  # every 18-digit number fits a 64-bit primary key


def referenced(model: type[M], data: Mapping[str, Any], *, key: str = "reference") -> M:
    """The row named by ``data[key]`` = ``"<model name>:<pk>"`` (the reference we gave the
    provider, like Stripe metadata or Asaas externalReference). Raises ObjectNotReady."""
    prefix, _, pk = str(data.get(key, "")).partition(":")
    name = model.__name__.lower()
    # ASCII digits only: str.isdigit() also takes "²" (int() raises) and "١٢" (int() reads 12).
    if prefix != name or not 0 < len(pk) <= MAX_PK_DIGITS or not ASCII_DIGITS.issuperset(pk):
        raise ObjectNotReady(f"The event carries no {name} reference.")
    try:
        return model._default_manager.get(pk=int(pk))
    except model.DoesNotExist:  # type: ignore[attr-defined]
        raise ObjectNotReady(f"{model.__name__} {pk} is not recorded (yet).") from None


def check_amount(obj: Any, data: Mapping[str, Any]) -> None:
    """Raise AmountMismatch unless ``data`` has ``obj``'s amount (minor units) and currency.
    The amount must be a JSON integer: ``4990.0`` for 4990 is a mismatch, not the same amount."""
    amount = data.get("amount")
    if (
        type(amount) is not int
        or amount != obj.amount
        or str(data.get("currency", "")).upper() != obj.currency
    ):
        raise AmountMismatch(
            f"{obj}: provider says {data.get('amount')} {data.get('currency')}, "
            f"we have {obj.amount} {obj.currency}."
        )


def apply_fact(
    parsed: ParsedWebhook, obj: models.Model, action: Callable[[], Any]
) -> HandlerOutcome:
    """Run ``action``; a fact already superseded is logged and dropped, not an error."""
    try:
        action()
    except InvalidTransition as exc:
        log.info("webhook.fact_superseded", event_type=parsed.event_type, detail=str(exc))
    return HandlerOutcome(affected=[obj])
