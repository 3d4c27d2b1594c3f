"""Free-text search of the customer timeline over what people wrote: staff notes and messages.

``accounts`` imports no domain app, so the app that owns a searchable object registers it from
its ``AppConfig.ready`` (``register_timeline_text_search``): the object's model (the timeline
entry's subject) and a function from (customer id, term) to a queryset of that model's ids whose
text contains the term. The queryset stays lazy: the timeline uses it as a subquery, bounded by
the customer's own rows (the model's customer index), so one search is one query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet

TextMatches = Callable[[int, str], "QuerySet[Any, Any]"]

SEARCH_MAX_LENGTH = 100
"""Longer terms are cut to this: a LIKE pattern is the term itself, kept small."""


@dataclass(frozen=True)
class TimelineTextSearch:
    model: type[Model]
    matches: TextMatches
    """(customer id, term) -> the model's ids (``values("pk")``) whose text contains the term."""


_SEARCHES: dict[str, TimelineTextSearch] = {}


def register_timeline_text_search(model: type[Model], matches: TextMatches) -> None:
    """Make the timeline entries whose subject is a ``model`` object findable by its text."""
    _SEARCHES[model._meta.label_lower] = TimelineTextSearch(model, matches)


def timeline_text_searches() -> list[TimelineTextSearch]:
    return [_SEARCHES[key] for key in sorted(_SEARCHES)]


def _note_matches(customer_id: int, term: str) -> QuerySet[Any, Any]:
    from accounts.models import CustomerNote

    return CustomerNote.objects.filter(customer_id=customer_id, body__icontains=term).values("pk")


def register_note_search() -> None:
    from accounts.models import CustomerNote

    register_timeline_text_search(CustomerNote, _note_matches)
