"""Explicit allowed-transitions maps, enforced by every service that changes a status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from django.db import models

from integrations.exceptions import InvalidTransition

Transitions = Mapping[str, frozenset[str]]
M = TypeVar("M", bound=models.Model)


def ensure_transition(*, entity: str, current: str, target: str, allowed: Transitions) -> None:
    """Raise InvalidTransition unless ``allowed`` lets ``current`` move to ``target``."""
    if target not in allowed.get(current, frozenset()):
        raise InvalidTransition(entity=entity, current=current, target=target)


def lock(instance: M, *related: str) -> M:
    """Re-read ``instance`` with a row lock; call inside ``transaction.atomic``. ``related`` are
    ``select_related`` paths fetched in the same query (only the instance's own row is locked)."""
    manager = type(instance)._default_manager
    if not related:
        return manager.select_for_update().get(pk=instance.pk)
    return manager.select_for_update(of=("self",)).select_related(*related).get(pk=instance.pk)
