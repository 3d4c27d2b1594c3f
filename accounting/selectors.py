"""Reads of the journal: a payout's tie-out (docs/accounting.md, "Tie-out")."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, Sum

from accounting.chart import BANK, PROVIDER_CLEARING
from accounting.models import JournalEntry, JournalLine
from payments.settlements.models import Payout, SettlementKind, SettlementLine

Kind = JournalEntry.SourceKind
# Which entries a settlement line of each kind stands for (its source_id is the provider's id
# of the payment, refund or dispute; Asaas books fees and splits as lines of the payment).
LINE_ENTRIES: dict[str, tuple[str, ...]] = {
    SettlementKind.CHARGE: (Kind.CHARGE, Kind.FEE, Kind.SPLIT),
    SettlementKind.FEE: (Kind.CHARGE, Kind.FEE, Kind.SPLIT),
    SettlementKind.SPLIT: (Kind.CHARGE, Kind.FEE, Kind.SPLIT),
    SettlementKind.REFUND: (Kind.REFUND,),
    SettlementKind.CHARGEBACK: (Kind.CHARGEBACK, Kind.CHARGEBACK_FEE),
    SettlementKind.CHARGEBACK_REVERSAL: (Kind.CHARGEBACK_REVERSAL,),
}


@dataclass(frozen=True)
class PayoutTieOut:
    """A payout against the journal: what the bank received by the payout's entry, and what
    the entries of the settlement lines paid out in it put into provider clearing."""

    payout: Payout
    bank_received: int
    """Bank debits less credits of the payout's entry (0 while it is not posted)."""
    clearing_from_lines: int
    """Provider clearing debits less credits of the entries the payout's lines stand for."""
    clearing_paid_out: int
    """Provider clearing credits less debits of the payout's own entry."""
    entry_ids: list[int] = field(default_factory=list)
    unmatched_lines: list[str] = field(default_factory=list)
    """The payout's settlement lines with no journal entry (provider line ids)."""

    @property
    def clearing_net(self) -> int:
        """What the payout leaves in provider clearing: 0 when it ties out."""
        return self.clearing_from_lines - self.clearing_paid_out

    @property
    def ties_out(self) -> bool:
        return (
            self.bank_received == self.payout.amount
            and self.clearing_from_lines == self.payout.amount
            and self.clearing_net == 0
            and not self.unmatched_lines
        )


def _refs(line: SettlementLine) -> set[str]:
    refs = {line.source_id} if line.source_id else set()
    source = line.raw.get("source") if isinstance(line.raw, dict) else None
    if isinstance(source, dict) and source.get("payment_intent"):
        refs.add(str(source["payment_intent"]))  # an expanded Stripe charge
    return refs


def _net(role: str, entries: Q) -> int:
    sums = JournalLine.objects.filter(entries, account_role=role).aggregate(
        d=Sum("debit"), c=Sum("credit")
    )
    return int(sums["d"] or 0) - int(sums["c"] or 0)


def payout_tie_out(*, payout: Payout) -> PayoutTieOut:
    """Compare ``payout`` with the journal: the bank receives its amount (its entry), and the
    entries of its settlement lines (charges less fees, splits, refunds and chargebacks) put
    exactly that amount into provider clearing, which its entry then empties. A fixed number
    of queries whatever the payout's size."""
    lines = list(
        SettlementLine.objects.filter(provider=payout.provider, payout_id=payout.provider_payout_id)
        .exclude(kind=SettlementKind.PAYOUT)
        .only("provider_line_id", "kind", "source_id", "raw")
    )
    wanted: dict[tuple[str, ...], set[str]] = {}
    for line in lines:
        kinds = LINE_ENTRIES.get(line.kind)
        if kinds:
            wanted.setdefault(kinds, set()).update(_refs(line))
    query = Q(pk__in=[])
    for kinds, refs in wanted.items():
        query |= Q(source_kind__in=kinds, provider_ref__in=refs)
    entries = list(
        JournalEntry.objects.filter(query, provider=payout.provider).values_list(
            "pk", "source_kind", "provider_ref"
        )
    )
    found = {(kind, ref) for _, kind, ref in entries}
    unmatched = [
        line.provider_line_id
        for line in lines
        if not any(
            (kind, ref) in found for kind in LINE_ENTRIES.get(line.kind, ()) for ref in _refs(line)
        )
    ]
    entry_ids = sorted(pk for pk, _, _ in entries)
    own = Q(
        entry__source_kind=Kind.PAYOUT,
        entry__source_key=f"{payout.provider}:{payout.provider_payout_id}",
    )
    return PayoutTieOut(
        payout=payout,
        bank_received=_net(BANK, own),
        clearing_from_lines=_net(PROVIDER_CLEARING, Q(entry_id__in=entry_ids)),
        clearing_paid_out=-_net(PROVIDER_CLEARING, own),
        entry_ids=entry_ids,
        unmatched_lines=unmatched,
    )
