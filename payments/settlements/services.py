"""Writes for settlement import: store lines and payouts once, link lines to payouts, move the
import cursors. Every write here is set-based (one INSERT ... ON CONFLICT DO NOTHING per batch)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from payments.settlements.models import Payout, SettlementCursor, SettlementLine


@dataclass(frozen=True)
class Stored:
    """What one batch changed: rows added and lines newly linked to a payout."""

    created: int = 0
    linked: int = 0

    def __add__(self, other: Stored) -> Stored:
        return Stored(self.created + other.created, self.linked + other.linked)


def settlement_lines_store(lines: Sequence[SettlementLine], *, payout_id: str = "") -> Stored:
    """Insert the lines not stored yet (unique by provider and line id; the others are left
    exactly as they are) and, with ``payout_id``, link those of these lines that have no payout
    yet to it (a payout listed before or after its charges were imported)."""
    if not lines:
        return Stored()
    with transaction.atomic():
        created = _insert_new(SettlementLine, "provider_line_id", lines)
        linked = 0
        if payout_id:
            by_provider: dict[str, list[str]] = {}
            for line in lines:
                by_provider.setdefault(line.provider, []).append(line.provider_line_id)
            for provider, ids in by_provider.items():
                linked += SettlementLine.objects.filter(
                    provider=provider, provider_line_id__in=ids, payout_id=""
                ).update(payout_id=payout_id)
    return Stored(created=created, linked=linked)


def payouts_store(payouts: Sequence[Payout]) -> Stored:
    """Insert the payouts not stored yet; a payout already stored gets the provider's newer
    status and arrival date (a payout moves from pending to paid), nothing else."""
    if not payouts:
        return Stored()
    with transaction.atomic():
        created = _insert_new(Payout, "provider_payout_id", payouts)
        for payout in payouts:
            Payout.objects.filter(
                provider=payout.provider, provider_payout_id=payout.provider_payout_id
            ).exclude(status=payout.status, arrival_date=payout.arrival_date).update(
                status=payout.status,
                provider_status=payout.provider_status,
                arrival_date=payout.arrival_date,
            )
    return Stored(created=created)


def _insert_new(
    model: type[SettlementLine] | type[Payout], id_field: str, rows: Sequence[Any]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING, counting the rows that were new."""
    keys = {(row.provider, getattr(row, id_field)) for row in rows}
    providers = {p for p, _ in keys}
    ids = {i for _, i in keys}
    before = set(
        model.objects.filter(provider__in=providers, **{f"{id_field}__in": ids}).values_list(
            "provider", id_field
        )
    )
    model.objects.bulk_create(list(rows), ignore_conflicts=True, batch_size=500)
    return len(keys - before)


def settlement_cursor_get(provider: str, kind: str) -> SettlementCursor:
    cursor, _ = SettlementCursor.objects.get_or_create(provider=provider, kind=kind)
    return cursor


def settlement_cursor_start(cursor: SettlementCursor, *, since: datetime | None) -> None:
    """Begin a run from ``since`` unless one is already in progress (then it continues)."""
    if not cursor.running:
        cursor.running = True
        cursor.run_since = since
        cursor.position = ""
        cursor.save(update_fields=["running", "run_since", "position", "updated_at"])


def settlement_cursor_advance(
    cursor: SettlementCursor, *, position: str, seen: Iterable[datetime]
) -> None:
    """A page is stored: remember where the run is and the newest time seen."""
    newest = max(seen, default=None)
    if newest is not None and (cursor.high_water is None or newest > cursor.high_water):
        cursor.high_water = newest
    cursor.position = position
    cursor.save(update_fields=["position", "high_water", "updated_at"])


def settlement_cursor_finish(cursor: SettlementCursor) -> None:
    cursor.running = False
    cursor.run_since = None
    cursor.position = ""
    cursor.save(update_fields=["running", "run_since", "position", "updated_at"])
