"""Shared pieces of the fact pipelines: finding the row a provider's fact names, checking its
amount, and what applying a fact did.

A provider's webhook module maps a payload to typed facts (``payments.facts``,
``shipping.facts``, ``notifications.facts``); one domain function per fact type applies it under
the object's watermark, so duplicated, late and out-of-order facts end in the same state. A fact
about an object we have not recorded yet raises ``ObjectNotReady``: the inbox retries it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from django.db import models

from integrations.exceptions import AmountMismatch, ObjectNotReady
from integrations.models import WebhookEvent
from integrations.money import format_money
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook

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
        said_currency = str(data.get("currency") or "")
        said = (
            format_money(amount, said_currency)
            if type(amount) is int and said_currency
            else f"{amount!r} {said_currency or '(no currency)'}"
        )
        raise AmountMismatch(
            f"{obj}: provider says {said}, we have {format_money(obj.amount, obj.currency)}."
        )


@dataclass(frozen=True)
class FactOutcome:
    """What applying one fact did: the rows it touched or flagged (``affected``, linked from the
    webhook inbox), and ``target``, the row the fact was accepted for (found, of this provider,
    its ids and amount agreeing), whether or not its status moved; None when the fact was
    refused or put on the reconciliation list."""

    affected: tuple[models.Model, ...] = ()
    target: models.Model | None = None


def in_event_context(handler: Handler) -> Handler:
    """``handler`` with its webhook event (``webhook_event``, ``endpoint``, ``event_type``)
    bound to every log line written while its facts are applied."""

    @functools.wraps(handler)
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome | None:
        with structlog.contextvars.bound_contextvars(
            webhook_event=event.pk, endpoint=event.provider, event_type=event.event_type
        ):
            return handler(event, parsed)

    return handle
