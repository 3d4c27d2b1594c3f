"""Parts other apps add to the customer's admin page (accounts imports none of them): each part
gives a template rendered inside the change form (inputs only, tied to their form with
``form="..."``) and one rendered after the change form has closed (its ``<form>`` elements;
browsers drop a form nested in another). Registered from the other app's ``ready``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from accounts.models import Customer


@dataclass(frozen=True)
class CustomerPagePart:
    key: str
    template: str
    detached_template: str
    context: Callable[[HttpRequest, Customer], dict[str, Any] | None]
    """The part's context for this viewer, or None to leave the part out."""


@dataclass(frozen=True)
class RenderedPart:
    template: str
    detached_template: str
    context: dict[str, Any]


_PARTS: dict[str, CustomerPagePart] = {}


def register_customer_page_part(part: CustomerPagePart) -> None:
    _PARTS[part.key] = part


def customer_page_parts(request: HttpRequest, customer: Customer) -> list[RenderedPart]:
    parts = []
    for part in _PARTS.values():
        context = part.context(request, customer)
        if context is not None:
            parts.append(RenderedPart(part.template, part.detached_template, context))
    return parts
