"""What fills an approved WhatsApp template's variables: a fixed vocabulary the policy resolves
from the notification itself (its customer and order), so a template registered in the admin
never needs anything the notification does not carry."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings

from integrations.money import format_money
from notifications.models import Notification

VARIABLES: dict[str, tuple[str, Callable[[Notification], str]]] = {
    "customer_name": ("The customer's name", lambda n: n.customer.name),
    "first_name": ("The customer's first name", lambda n: (n.customer.name.split() or [""])[0]),
    "order_number": ("The order's number", lambda n: n.order.number if n.order else ""),
    "order_total": (
        "The order's total, as the customer reads it (R$ 10,00)",
        lambda n: format_money(n.order.total_amount, n.order.currency) if n.order else "",
    ),
    "business_name": ("The business's name (BUSINESS_NAME)", lambda n: str(settings.BUSINESS_NAME)),
    "subject": ("The message's subject", lambda n: n.subject),
    "body": ("The message's whole text", lambda n: n.body),
}
_PLACEHOLDER = re.compile(r"\{\{\s*([0-9]{1,3})\s*\}\}")


def unknown_variables(names: list[str]) -> list[str]:
    return [name for name in names if name not in VARIABLES]


def template_values(variables: list[str], notification: Notification) -> tuple[str, ...]:
    """The values of ``variables`` (names of ``VARIABLES``) for ``notification``, in order. An
    empty value becomes "-": WhatsApp (and Twilio, 21656) refuse an empty variable."""
    values = []
    for name in variables:
        _, resolve = VARIABLES[name]
        values.append(resolve(notification).strip() or "-")
    return tuple(values)


def render_content(content: str, values: tuple[str, ...]) -> str:
    """``content`` with {{1}}, {{2}}, ... replaced by ``values``; a placeholder without a value
    is left as it is."""

    def fill(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return values[index - 1] if 0 < index <= len(values) else match.group(0)

    return _PLACEHOLDER.sub(fill, content)
