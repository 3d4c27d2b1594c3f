"""Writes for matches (issue 15 item 3): a manual match by finance and undoing a match. The
automatic engine writes the same rows set-based (``payments.settlements.engine``).

Each settlement line, payment, refund, dispute and payout is in at most one match: the unique
constraints of ``SettlementMatchItem`` refuse a second one, and these services turn that refusal
into ``MatchNotAllowed`` with the items named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from django.db import IntegrityError, transaction

from accounts.access.audit import audit_record
from payments.exceptions import MatchNotAllowed
from payments.settlements.models import (
    MatchMethod,
    SettlementMatch,
    SettlementMatchItem,
)

log = structlog.get_logger(__name__)


def _already_matched(field: str, ids: Sequence[int]) -> list[int]:
    return sorted(
        SettlementMatchItem.objects.filter(**{f"{field}_id__in": ids}).values_list(
            f"{field}_id", flat=True
        )
    )


def settlement_match_manual(
    *,
    user: Any,
    note: str,
    line_ids: Sequence[int] = (),
    payment_ids: Sequence[int] = (),
    refund_ids: Sequence[int] = (),
    dispute_ids: Sequence[int] = (),
    payout_ids: Sequence[int] = (),
) -> SettlementMatch:
    """Match the given items with each other by hand. Raises MatchNotAllowed (nothing written)
    without a note, with fewer than two items, or when any item is already matched."""
    targets = {
        "line": list(dict.fromkeys(line_ids)),
        "payment": list(dict.fromkeys(payment_ids)),
        "refund": list(dict.fromkeys(refund_ids)),
        "dispute": list(dict.fromkeys(dispute_ids)),
        "payout": list(dict.fromkeys(payout_ids)),
    }
    if not note.strip():
        raise MatchNotAllowed("A manual match needs a note saying why these belong together.")
    if sum(len(ids) for ids in targets.values()) < 2:
        raise MatchNotAllowed("A match needs at least two items.")
    try:
        with transaction.atomic():
            match = SettlementMatch.objects.create(
                method=MatchMethod.MANUAL, matched_by=user, note=note.strip()
            )
            SettlementMatchItem.objects.bulk_create(
                SettlementMatchItem(match=match, **{f"{field}_id": pk})
                for field, ids in targets.items()
                for pk in ids
            )
            audit_record(
                action="settlement_matched",
                actor=user,
                obj=match,
                changes={field: ids for field, ids in targets.items() if ids},
                summary=match.note,
            )
    except IntegrityError:
        taken = {field: _already_matched(field, ids) for field, ids in targets.items() if ids}
        named = ", ".join(f"{field} {ids}" for field, ids in taken.items() if ids)
        raise MatchNotAllowed(
            f"Already matched elsewhere: {named or 'an item'}. Undo that match first."
        ) from None
    log.info("settlement.matched", match_id=match.pk, method="manual", user_id=user.pk)
    return match


def settlement_match_undo(*, match: SettlementMatch, user: Any, reason: str) -> None:
    """Delete a match (its items become unmatched again), audited with ``reason``."""
    if not reason.strip():
        raise MatchNotAllowed("Undoing a match needs a reason.")
    with transaction.atomic():
        items = [str(item) for item in match.items.all()]
        audit_record(
            action="settlement_match_undone",
            actor=user,
            obj=match,
            changes={"items": items},
            summary=reason.strip(),
        )
        deleted, _ = SettlementMatch.objects.filter(pk=match.pk).delete()
        if not deleted:
            raise MatchNotAllowed(f"Match {match.pk} is not there any more.")
    log.info("settlement.match_undone", match_id=match.pk, user_id=user.pk)
