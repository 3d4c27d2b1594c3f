"""The order page as a hub: what hangs off an order (payments, refunds, disputes, shipments with
their tracking, messages) as read-only tables on the order's admin page, each row linking to its
own page.

``orders`` may not import the apps that hang off it (they import ``orders``), so each of them
registers its parts here from its ``AppConfig.ready``, as customer look-ups are registered. A
part reads its rows in a bounded number of queries (one, two with a prefetch), whatever the
order's history: at most ``HUB_SECTION_LIMIT`` rows are shown, and the page says when there are
more. A row's link is dropped for a user who may not open the page it leads to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from orders.models import Order

HUB_SECTION_LIMIT = 50


def hub_time(value: datetime | None) -> str:
    """A time as the hub shows it: UTC, to the second."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


@dataclass(frozen=True)
class HubRow:
    """One row: its cells (the first one links to ``url`` when the viewer holds
    ``permission``), and rows shown under it (a shipment's tracking scans)."""

    cells: tuple[str, ...]
    url: str | None = None
    permission: str = ""
    details: tuple[HubRow, ...] = ()


@dataclass(frozen=True)
class HubPart:
    """A section of the order page, registered by the app that owns its rows. ``rows(order,
    limit)`` returns at most ``limit`` rows, newest first."""

    key: str
    title: str
    position: int
    columns: tuple[str, ...]
    empty: str
    rows: Callable[[Order, int], list[HubRow]]
    detail_columns: tuple[str, ...] = ()
    detail_empty: str = ""


@dataclass(frozen=True)
class HubSection:
    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[HubRow]
    empty: str
    more: bool
    detail_columns: tuple[str, ...] = ()
    detail_empty: str = ""
    limit: int = HUB_SECTION_LIMIT
    span: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "span", len(self.columns))


_PARTS: dict[str, HubPart] = {}


def register_order_hub_part(part: HubPart) -> None:
    """Add ``part`` to every order page (idempotent on its key)."""
    _PARTS[part.key] = part


def order_hub_parts() -> list[HubPart]:
    return sorted(_PARTS.values(), key=lambda part: (part.position, part.key))


def _visible(row: HubRow, user: Any) -> HubRow:
    url = row.url if row.url and user.has_perm(row.permission) else None
    details = tuple(_visible(detail, user) for detail in row.details)
    return replace(row, url=url, details=details)


def order_hub(*, order: Order, user: Any, limit: int = HUB_SECTION_LIMIT) -> list[HubSection]:
    """Every registered section of ``order`` as ``user`` sees it: rows newest first, at most
    ``limit`` per section, links only to pages ``user`` may open."""
    sections = []
    for part in order_hub_parts():
        rows = part.rows(order, limit + 1)
        sections.append(
            HubSection(
                key=part.key,
                title=part.title,
                columns=part.columns,
                rows=[_visible(row, user) for row in rows[:limit]],
                empty=part.empty,
                more=len(rows) > limit,
                detail_columns=part.detail_columns,
                detail_empty=part.detail_empty,
                limit=limit,
            )
        )
    return sections
