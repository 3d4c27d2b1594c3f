# ruff: noqa: S608 - identifiers come from model metadata (quoted) and our own constants; values are always parameters
"""The matching engine (issue 15 item 3): settlement lines against payments, refunds, disputes
and payouts, set-based.

Every pass is a handful of ``INSERT ... SELECT`` statements over the whole unmatched set, never a
loop per row; the unique constraints of ``SettlementMatchItem`` keep each line, payment, refund,
dispute and payout in at most one match, so a re-run finds nothing new. Passes, in order:

1. **Provider id.** Charge, fee, adjustment and split lines whose payment key (the line's
   ``source_id``, or for Stripe the PaymentIntent of its charge when the import kept the expanded
   charge in ``raw``) is a succeeded payment's ``provider_payment_id``: one match per payment with
   all its lines (Asaas's ``PAYMENT_RECEIVED`` and ``PAYMENT_FEE`` together). Refund lines by
   ``Refund.provider_refund_id``, chargeback lines by ``Dispute.provider_dispute_id``, payout and
   transfer lines by ``Payout.provider_payout_id``. A line that arrives after its payment (or
   refund, dispute, payout) was matched joins that match.
2. **Rules.** Active ``MatchingRule`` rows in ``sequence`` order: unmatched lines against
   unmatched succeeded payments of the same provider and currency, amounts within the tolerance,
   within the date window, and (``reference_must_match``) the order number in the line's
   description or source id. A pair is taken only when it is the only one for its line and for
   its payment (window ``COUNT`` over both); ambiguous lines wait for a person. A rule for
   ``statement`` lines pairs bank lines with payouts instead: one payout of that amount, or
   several payouts of one provider arriving the same day whose sum it is (many-to-one).
3. **Payout tie-out** (one-to-many): a payout's lines (``payout_id``, its own payout line aside)
   must sum, net, to its amount; one that does not is an ``amount_mismatch`` exception.
4. **Exceptions** for finance (``ReconciliationException``), each made once: unmatched_line,
   unmatched_payment, amount_mismatch, fee_mismatch, missing_payout, chargeback_fee.

Runs on SQLite and PostgreSQL: only the epoch-day and JSON expressions differ by vendor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model, OuterRef, Subquery
from django.utils import timezone

from integrations.money import format_money
from orders.models import Order
from payments.models import Dispute, Payment, ReconciliationException, Refund
from payments.settlements.models import (
    MatchingRule,
    MatchMethod,
    Payout,
    SettlementKind,
    SettlementLine,
    SettlementMatch,
    SettlementMatchItem,
)

log = structlog.get_logger(__name__)

PAYMENT_LINE_KINDS = (
    SettlementKind.CHARGE,
    SettlementKind.FEE,
    SettlementKind.ADJUSTMENT,
    SettlementKind.SPLIT,
)
DISPUTE_LINE_KINDS = (
    SettlementKind.CHARGEBACK,
    SettlementKind.CHARGEBACK_REVERSAL,
    SettlementKind.FEE,
    SettlementKind.ADJUSTMENT,
)
PAYOUT_LINE_KINDS = (SettlementKind.PAYOUT, SettlementKind.TRANSFER)
# Lines a rule may pair with a payment (money in for one order).
RULE_LINE_KINDS = (SettlementKind.CHARGE, SettlementKind.ADJUSTMENT, SettlementKind.OTHER)
DEAD_PAYOUT_STATUSES = ("failed", "canceled")


@dataclass
class MatchResult:
    """What one run did: matches made and lines matched per pass, exceptions made per kind and
    the seconds each pass took."""

    matches: dict[str, int] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    exceptions: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def matches_created(self) -> int:
        return sum(self.matches.values())

    @property
    def lines_matched(self) -> int:
        return sum(self.lines.values())

    @property
    def exceptions_created(self) -> int:
        return sum(self.exceptions.values())

    def summary(self) -> str:
        parts = [f"{name}: {self.lines.get(name, 0)} lines" for name in self.matches]
        made = ", ".join(f"{kind} {n}" for kind, n in self.exceptions.items() if n) or "none"
        return (
            f"{self.matches_created} matches, {self.lines_matched} lines matched "
            f"({'; '.join(parts)}); exceptions: {made}"
        )


# SQL building blocks -----------------------------------------------------------------------


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


T_LINE = lambda: _table(SettlementLine)  # noqa: E731
T_PAYMENT = lambda: _table(Payment)  # noqa: E731
T_REFUND = lambda: _table(Refund)  # noqa: E731
T_DISPUTE = lambda: _table(Dispute)  # noqa: E731
T_PAYOUT = lambda: _table(Payout)  # noqa: E731
T_MATCH = lambda: _table(SettlementMatch)  # noqa: E731
T_ITEM = lambda: _table(SettlementMatchItem)  # noqa: E731
T_ORDER = lambda: _table(Order)  # noqa: E731


def _days(column: str) -> str:
    """A datetime or date column as fractional days since an epoch (for date windows)."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM {column}) / 86400.0)"
    return f"julianday({column})"


def _day(column: str) -> str:
    """The UTC calendar day of a datetime column."""
    if connection.vendor == "postgresql":
        return f"CAST(({column} AT TIME ZONE 'UTC') AS DATE)"
    return f"date({column})"


def _payment_key(alias: str) -> str:
    """The payment id a line names: Stripe's charge lines name the charge (``ch_...``); when the
    import kept the expanded charge, its ``payment_intent`` is the payment's id."""
    if connection.vendor == "postgresql":
        intent = f"({alias}.raw -> 'source' ->> 'payment_intent')"
    else:
        intent = f"json_extract({alias}.raw, '$.source.payment_intent')"
    return f"COALESCE(NULLIF({intent}, ''), {alias}.source_id)"


def _lines_first() -> str:
    """The join that walks the lines and looks each payment up by its id: the key is an
    expression, so SQLite's planner would otherwise walk the payments and scan the lines of each.
    (SQLite keeps the order of a CROSS JOIN; PostgreSQL plans a hash join either way.)"""
    return "CROSS JOIN" if connection.vendor == "sqlite" else "JOIN"


def _not_indexed(column: str) -> str:
    """SQLite's documented way to keep the planner off an index for one term (the payments'
    provider and status indexes, a few values each, when the provider id is all but unique)."""
    return f"+{column}" if connection.vendor == "sqlite" else column


def _anchor(prefix: str, column: str) -> str:
    return f"('{prefix}:' || CAST({column} AS VARCHAR(20)))"


def _in(values: Sequence[str]) -> str:
    # Only our own constants (kinds, statuses) are inlined; nothing a sender controls.
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _unmatched(alias: str, target: str) -> str:
    return f"NOT EXISTS (SELECT 1 FROM {T_ITEM()} ui WHERE ui.{target}_id = {alias}.id)"  # nosec B608  # names from model metadata (quoted) and constants; values bound


def _execute(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return max(cursor.rowcount, 0)


def _fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return list(cursor.fetchall())


def _insert_matches(
    select_anchors: str, params: Sequence[Any], *, method: str, rule_id: Any
) -> int:
    """One match per distinct anchor the SELECT yields (its single column), skipping anchors
    that already have one."""
    sql = (
        f"INSERT INTO {T_MATCH()} (method, rule_id, matched_by_id, note, anchor, created_at) "
        f"SELECT %s, CAST(%s AS BIGINT), NULL, '', a.anchor, %s "
        f"FROM (SELECT DISTINCT a0.anchor FROM ({select_anchors}) a0) a "
        f"WHERE NOT EXISTS (SELECT 1 FROM {T_MATCH()} m2 WHERE m2.anchor <> '' AND m2.anchor = a.anchor)"  # nosec B608  # names from model metadata (quoted) and constants; values bound
    )
    return _execute(sql, [method, rule_id, timezone.now(), *params])


# Pass 1: provider ids ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    name: str  # the item column: payment, refund, dispute, payout
    table: Callable[[], str]
    joined: Callable[[], str]  # FROM line ``l`` joined to target ``t`` (may add aliases)
    line_filter: str  # SQL on ``l``
    target_filter: str = "1 = 1"


def _targets() -> list[_Target]:
    line = T_LINE
    return [
        _Target(
            "payment",
            T_PAYMENT,
            lambda: (
                f"FROM {line()} l {_lines_first()} {T_PAYMENT()} t "
                f"ON {_not_indexed('t.provider')} = l.provider "
                f"AND t.provider_payment_id = {_payment_key('l')}"
            ),
            f"l.kind IN {_in(PAYMENT_LINE_KINDS)}",
            f"{_not_indexed('t.status')} = 'succeeded' AND t.provider_payment_id <> ''",
        ),
        # Stripe names the refund (re_...).
        _Target(
            "refund",
            T_REFUND,
            lambda: (
                f"FROM {line()} l JOIN {T_REFUND()} t ON t.provider_refund_id = l.source_id "
                f"JOIN {T_PAYMENT()} tp ON tp.id = t.payment_id AND tp.provider = l.provider"
            ),
            f"l.kind = '{SettlementKind.REFUND}'",
            "t.provider_refund_id <> ''",
        ),
        # Asaas refunds have no id of their own: the line names the payment; the refund of that
        # payment with the line's amount, when it is the only one of that amount.
        _Target(
            "refund",
            T_REFUND,
            lambda: (
                f"FROM {line()} l {_lines_first()} {T_PAYMENT()} tp "
                f"ON {_not_indexed('tp.provider')} = l.provider "
                f"AND tp.provider_payment_id = l.source_id "
                f"JOIN {T_REFUND()} t ON t.payment_id = tp.id AND t.amount = -l.amount"
            ),
            f"l.kind = '{SettlementKind.REFUND}'",
            f"NOT EXISTS (SELECT 1 FROM {T_REFUND()} r2 WHERE r2.payment_id = t.payment_id "
            "AND r2.id <> t.id AND r2.amount = t.amount)",  # nosec B608  # names from model metadata (quoted) and constants; values bound
        ),
        _Target(
            "dispute",
            T_DISPUTE,
            lambda: (
                f"FROM {line()} l JOIN {T_DISPUTE()} t ON t.provider = l.provider "
                "AND t.provider_dispute_id = l.source_id"
            ),
            f"l.kind IN {_in(DISPUTE_LINE_KINDS)}",
        ),
        # Asaas's dispute is its payment's chargeback ("pay_...:chargeback").
        _Target(
            "dispute",
            T_DISPUTE,
            lambda: (
                f"FROM {line()} l {_lines_first()} {T_DISPUTE()} t ON t.provider = l.provider "
                "AND t.provider_dispute_id = (l.source_id || ':chargeback')"
            ),
            f"l.kind IN {_in((SettlementKind.CHARGEBACK, SettlementKind.CHARGEBACK_REVERSAL))}",
        ),
        _Target(
            "payout",
            T_PAYOUT,
            lambda: (
                f"FROM {line()} l JOIN {T_PAYOUT()} t ON t.provider = l.provider "
                "AND t.provider_payout_id = l.payout_id"
            ),
            f"l.kind IN {_in(PAYOUT_LINE_KINDS)}",
        ),
    ]


def _provider_scope(alias: str, provider: str | None) -> tuple[str, list[Any]]:
    if provider:
        return f"{alias}.provider = %s", [provider]
    return "1 = 1", []


def _since_scope(alias: str, since: datetime | None) -> tuple[str, list[Any]]:
    if since:
        return f"{alias}.created_at >= %s", [since]
    return "1 = 1", []


PAIRS = "engine_pairs"


def _materialize(pairs: str, params: Sequence[Any]) -> int:
    """The accepted (lid, pid) pairs into a temporary table, so the inserts that follow all see
    the pairs as they were before any of them ran."""
    _execute(f"DROP TABLE IF EXISTS {PAIRS}")
    _execute(f"CREATE TEMPORARY TABLE {PAIRS} AS SELECT pr.lid, pr.pid FROM ({pairs}) pr", params)  # nosec B608  # names from model metadata (quoted) and constants; values bound
    if connection.vendor == "postgresql":
        # A new temporary table has no statistics (autovacuum never sees it): without them the
        # planner guesses a handful of rows and joins the pairs by nested loops.
        _execute(f"ANALYZE {PAIRS}")
    return _fetch(f"SELECT COUNT(*) FROM {PAIRS}")[0][0]  # nosec B608  # names from model metadata (quoted) and constants; values bound


def _refresh_statistics(made: int) -> None:
    """PostgreSQL plans with the statistics it has: after a large insert into the matches and
    their items in this run, the next statements would see them as they were. ANALYZE (allowed
    inside a transaction; it samples) tells it. This did not cure the slow provider-id pass
    measured on PostgreSQL (docs/benchmarks.md, "Matching"), whose cause is still open."""
    if connection.vendor == "postgresql" and made > 1_000:
        _execute(f"ANALYZE {T_MATCH()}, {T_ITEM()}")


def _attach_paired(target: str) -> int:
    """Put each paired target that is in no match yet into the match anchored on it."""
    return _execute(
        f"INSERT INTO {T_ITEM()} (match_id, {target}_id) SELECT m.id, pr.pid "
        f"FROM (SELECT DISTINCT pid FROM {PAIRS}) pr JOIN {T_MATCH()} m "
        f"ON m.anchor <> '' AND m.anchor = {_anchor(target, 'pr.pid')} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {T_ITEM()} ui WHERE ui.{target}_id = pr.pid)"  # nosec B608  # names from model metadata (quoted) and constants; values bound
    )


def _pass_provider_ids(provider: str | None, since: datetime | None, result: MatchResult) -> None:
    scope, scope_params = _provider_scope("l", provider)
    since_sql, since_params = _since_scope("l", since)
    made = lines = 0
    for target in _targets():
        # Every unmatched line with the target it names (one join over the lines)...
        if not _materialize(
            f"SELECT l.id AS lid, t.id AS pid {target.joined()} "
            f"WHERE {target.line_filter} AND {target.target_filter} AND {scope} AND {since_sql} "
            f"AND {_unmatched('l', 'line')}",
            [*scope_params, *since_params],
        ):
            continue
        # ...a new match for each target that is in none...
        made += _insert_matches(
            f"SELECT {_anchor(target.name, 'pr.pid')} AS anchor FROM {PAIRS} pr "
            f"WHERE NOT EXISTS (SELECT 1 FROM {T_ITEM()} ui WHERE ui.{target.name}_id = pr.pid)",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            (),
            method=MatchMethod.PROVIDER_ID,
            rule_id=None,
        )
        _refresh_statistics(made)
        _refresh_statistics(_attach_paired(target.name))
        # ...then each line joins its target's match (new, or older: a fee line or a late refund
        # line after its payment was matched). A line naming two targets goes to the first.
        lines += _execute(
            f"INSERT INTO {T_ITEM()} (match_id, line_id) SELECT MIN(ti.match_id), pr.lid "
            f"FROM {PAIRS} pr JOIN {T_ITEM()} ti ON ti.{target.name}_id = pr.pid GROUP BY pr.lid"  # nosec B608  # names from model metadata (quoted) and constants; values bound
        )
    _execute(f"DROP TABLE IF EXISTS {PAIRS}")
    result.matches["provider_id"] = made
    result.lines["provider_id"] = lines


# Pass 2: rules -----------------------------------------------------------------------------


def _without_money_line(alias: str) -> str:
    """A payment a rule may still take a line for: unmatched, or only in the match built around
    it without a line of the money coming in (e.g. Asaas's fee line matched it by id while its
    PAYMENT_RECEIVED line named nothing we know)."""
    return f"""NOT EXISTS (
        SELECT 1 FROM {T_ITEM()} ip JOIN {T_MATCH()} pm ON pm.id = ip.match_id
        WHERE ip.payment_id = {alias}.id AND (pm.anchor <> {_anchor("payment", f"{alias}.id")}
          OR EXISTS (SELECT 1 FROM {T_ITEM()} il JOIN {T_LINE()} cl ON cl.id = il.line_id
                     WHERE il.match_id = pm.id AND cl.kind IN {_in(RULE_LINE_KINDS)})))"""  # nosec B608  # names from model metadata (quoted) and constants; values bound


def _rule_pairs_payments(rule: MatchingRule, provider: str | None) -> tuple[str, list[Any]]:
    """SELECT lid, pid: the line/payment pairs this rule accepts, each unique both ways."""
    params: list[Any] = []
    line_where = [_unmatched("l", "line"), "l.amount > 0"]
    if rule.line_kind:
        line_where.append("l.kind = %s")
        params.append(rule.line_kind)
    else:
        line_where.append(f"l.kind IN {_in(RULE_LINE_KINDS)}")
    for scope in (rule.provider, provider):
        if scope:
            line_where.append("l.provider = %s")
            params.append(scope)
    # An exact rule looks only at payments of an amount some line has (a set the database
    # builds once) before the costlier is-it-matched test.
    exact = "AND p.amount IN (SELECT ul.amount FROM ul)" if not rule.amount_tolerance else ""
    reference = ""
    if rule.reference_must_match:
        reference = (
            "AND (ul.description LIKE ('%%' || up.number || '%%') "
            "OR ul.source_id LIKE ('%%' || up.number || '%%'))"
        )
    sql = f"""
        WITH ul AS MATERIALIZED (
            SELECT l.id, l.provider, l.currency, l.amount, l.description, l.source_id,
                   {_days("l.created_at")} AS day
            FROM {T_LINE()} l WHERE {" AND ".join(line_where)}
        ), up AS MATERIALIZED (
            SELECT p.id, p.provider, p.currency, p.amount, o.number,
                   {_days("COALESCE(p.succeeded_at, p.created_at)")} AS day
            FROM {T_PAYMENT()} p JOIN {T_ORDER()} o ON o.id = p.order_id
            WHERE p.status = 'succeeded'
              AND EXISTS (SELECT 1 FROM ul WHERE ul.provider = p.provider) {exact}
              AND {_without_money_line("p")}
        ), pairs AS (
            SELECT ul.id AS lid, up.id AS pid FROM ul JOIN up
              ON up.provider = ul.provider AND up.currency = ul.currency
             AND up.amount BETWEEN ul.amount - %s AND ul.amount + %s
             AND up.day BETWEEN ul.day - %s AND ul.day + %s {reference}
        ), counted AS (
            SELECT lid, pid, COUNT(*) OVER (PARTITION BY lid) AS per_line,
                   COUNT(*) OVER (PARTITION BY pid) AS per_payment
            FROM pairs
        )
        SELECT lid, pid FROM counted WHERE per_line = 1 AND per_payment = 1
    """  # nosec B608  # names from model metadata (quoted) and constants; values bound
    tol, window = rule.amount_tolerance, rule.date_window_days
    return sql, [*params, tol, tol, window, window]


def _rule_match_payments(rule: MatchingRule, provider: str | None) -> tuple[int, int]:
    if not _materialize(*_rule_pairs_payments(rule, provider)):
        return 0, 0
    made = _insert_matches(
        f"SELECT {_anchor('payment', 'pr.pid')} AS anchor FROM {PAIRS} pr",  # nosec B608  # names from model metadata (quoted) and constants; values bound
        (),
        method=MatchMethod.RULE,
        rule_id=rule.pk,
    )
    lines = _execute(
        f"INSERT INTO {T_ITEM()} (match_id, line_id) SELECT m.id, pr.lid FROM {PAIRS} pr "
        f"JOIN {T_MATCH()} m ON m.anchor <> '' AND m.anchor = {_anchor('payment', 'pr.pid')}"  # nosec B608  # names from model metadata (quoted) and constants; values bound
    )
    _attach_paired("payment")
    _execute(f"DROP TABLE IF EXISTS {PAIRS}")
    return made, lines


def _unbanked_payouts() -> str:
    """Payouts no bank statement line accounts for yet: unmatched, or only in the match built
    around them (with their own payout line); not failed or cancelled."""
    return f"""
        SELECT po.id, po.provider, po.currency, po.amount, po.arrival_date
        FROM {T_PAYOUT()} po
        WHERE po.status NOT IN {_in(DEAD_PAYOUT_STATUSES)} AND po.arrival_date IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM {T_ITEM()} ip JOIN {T_MATCH()} pm ON pm.id = ip.match_id
            WHERE ip.payout_id = po.id AND pm.anchor <> {_anchor("payout", "po.id")})
    """  # nosec B608  # names from model metadata (quoted) and constants; values bound


def _statement_lines(rule: MatchingRule, provider: str | None) -> tuple[str, list[Any]]:
    where = [_unmatched("l", "line"), f"l.kind = '{SettlementKind.STATEMENT}'", "l.amount > 0"]
    params: list[Any] = []
    for scope in (rule.provider, provider):
        if scope:
            where.append("l.provider = %s")
            params.append(scope)
    sql = (
        f"SELECT l.id, l.currency, l.amount, {_days('l.created_at')} AS day "
        f"FROM {T_LINE()} l WHERE {' AND '.join(where)}"  # nosec B608  # names from model metadata (quoted) and constants; values bound
    )
    return sql, params


def _rule_pairs_payouts(rule: MatchingRule, provider: str | None) -> tuple[str, list[Any]]:
    """SELECT lid, pid: a bank line and the one payout of its amount in the window."""
    lines, params = _statement_lines(rule, provider)
    tol, window = rule.amount_tolerance, rule.date_window_days
    sql = f"""
        WITH ul AS MATERIALIZED ({lines}), up AS MATERIALIZED (
            SELECT u.id, u.currency, u.amount, {_days("u.arrival_date")} AS day
            FROM ({_unbanked_payouts()}) u
        ), pairs AS (
            SELECT ul.id AS lid, up.id AS pid FROM ul JOIN up
              ON up.currency = ul.currency AND up.amount BETWEEN ul.amount - %s AND ul.amount + %s
             AND up.day BETWEEN ul.day - %s AND ul.day + %s
        ), counted AS (
            SELECT lid, pid, COUNT(*) OVER (PARTITION BY lid) AS per_line,
                   COUNT(*) OVER (PARTITION BY pid) AS per_payout
            FROM pairs
        )
        SELECT lid, pid FROM counted WHERE per_line = 1 AND per_payout = 1
    """  # nosec B608  # names from model metadata (quoted) and constants; values bound
    return sql, [*params, tol, tol, window, window]


def _rule_pairs_payout_days(rule: MatchingRule, provider: str | None) -> tuple[str, list[Any]]:
    """SELECT lid, pid: a bank line and each payout of the one group (a provider's payouts
    arriving the same day, two or more) whose sum it is."""
    lines, params = _statement_lines(rule, provider)
    tol, window = rule.amount_tolerance, rule.date_window_days
    sql = f"""
        WITH ul AS MATERIALIZED ({lines}), ub AS MATERIALIZED ({_unbanked_payouts()}), grp AS (
            SELECT provider, currency, arrival_date, SUM(amount) AS total,
                   {_days("arrival_date")} AS day
            FROM ub GROUP BY provider, currency, arrival_date HAVING COUNT(*) > 1
        ), pairs AS (
            SELECT ul.id AS lid, grp.provider, grp.currency, grp.arrival_date FROM ul JOIN grp
              ON grp.currency = ul.currency AND grp.total BETWEEN ul.amount - %s AND ul.amount + %s
             AND grp.day BETWEEN ul.day - %s AND ul.day + %s
        ), counted AS (
            SELECT lid, provider, currency, arrival_date,
                   COUNT(*) OVER (PARTITION BY lid) AS per_line,
                   COUNT(*) OVER (PARTITION BY provider, currency, arrival_date) AS per_group
            FROM pairs
        )
        SELECT c.lid AS lid, ub.id AS pid FROM counted c JOIN ub
          ON ub.provider = c.provider AND ub.currency = c.currency
         AND ub.arrival_date = c.arrival_date
        WHERE c.per_line = 1 AND c.per_group = 1
    """  # nosec B608  # names from model metadata (quoted) and constants; values bound
    return sql, [*params, tol, tol, window, window]


def _rule_match_statements(rule: MatchingRule, provider: str | None) -> tuple[int, int]:
    """Bank lines to payouts. The bank line's match is anchored on the line (``line:9``); a
    payout already in the match built around it (with its own payout line) brings that match's
    items along."""
    made = lines = 0
    for build in (_rule_pairs_payouts, _rule_pairs_payout_days):
        if not _materialize(*build(rule, provider)):
            continue
        made += _insert_matches(
            f"SELECT {_anchor('line', 'pr.lid')} AS anchor FROM {PAIRS} pr",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            (),
            method=MatchMethod.RULE,
            rule_id=rule.pk,
        )
        # The payouts' own matches (their payout lines) move into the bank line's match...
        _execute(
            f"""UPDATE {T_ITEM()} SET match_id = (
                    SELECT m.id FROM {PAIRS} pr
                    JOIN {T_MATCH()} mo ON mo.anchor <> '' AND mo.anchor = {_anchor("payout", "pr.pid")}
                    JOIN {T_MATCH()} m ON m.anchor <> '' AND m.anchor = {_anchor("line", "pr.lid")}
                    WHERE mo.id = {T_ITEM()}.match_id)
                WHERE match_id IN (
                    SELECT mo.id FROM {PAIRS} pr
                    JOIN {T_MATCH()} mo ON mo.anchor <> '' AND mo.anchor = {_anchor("payout", "pr.pid")})"""  # nosec B608  # names from model metadata (quoted) and constants; values bound
        )
        # ...unmatched payouts join it, then the bank line itself.
        _execute(
            f"INSERT INTO {T_ITEM()} (match_id, payout_id) SELECT m.id, pr.pid FROM {PAIRS} pr "
            f"JOIN {T_MATCH()} m ON m.anchor <> '' AND m.anchor = {_anchor('line', 'pr.lid')} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {T_ITEM()} ui WHERE ui.payout_id = pr.pid)"  # nosec B608  # names from model metadata (quoted) and constants; values bound
        )
        lines += _execute(
            f"INSERT INTO {T_ITEM()} (match_id, line_id) SELECT DISTINCT m.id, pr.lid "
            f"FROM {PAIRS} pr JOIN {T_MATCH()} m ON m.anchor <> '' AND m.anchor = {_anchor('line', 'pr.lid')}"  # nosec B608  # names from model metadata (quoted) and constants; values bound
        )
    _execute(f"DROP TABLE IF EXISTS {PAIRS}")
    _execute(
        f"DELETE FROM {T_MATCH()} WHERE method <> %s AND NOT EXISTS "
        f"(SELECT 1 FROM {T_ITEM()} i WHERE i.match_id = {T_MATCH()}.id)",  # nosec B608  # names from model metadata (quoted) and constants; values bound
        [MatchMethod.MANUAL],
    )
    return made, lines


def _pass_rules(provider: str | None, result: MatchResult) -> None:
    made = lines = 0
    for rule in MatchingRule.objects.filter(active=True).order_by("sequence", "id"):
        if rule.line_kind == SettlementKind.STATEMENT:
            rule_made, rule_lines = _rule_match_statements(rule, provider)
        else:
            rule_made, rule_lines = _rule_match_payments(rule, provider)
        made += rule_made
        lines += rule_lines
    result.matches["rules"] = made
    result.lines["rules"] = lines


# Passes 3-4: exceptions --------------------------------------------------------------------

Kind = str


def _never_flagged(kind: Kind, provider_col: str, object_col: str) -> str:
    """Once: no exception of this kind for this provider and object, open or resolved. (A
    row-value NOT IN over one kind: the database builds the set once, where a correlated NOT
    EXISTS would scan the exceptions for each candidate, having no index on these columns.)"""
    return (
        f"({provider_col}, {object_col}) NOT IN (SELECT x.provider, x.provider_object_id "
        f"FROM {_table(ReconciliationException)} x WHERE x.kind = '{kind}')"  # nosec B608  # names from model metadata (quoted) and constants; values bound
    )


def _flag(
    kind: Kind,
    rows: list[tuple[Any, ...]],
    describe: Callable[..., str],
    money: Callable[..., tuple[int, str]],
) -> int:
    """rows: (provider, provider_object_id, payment_id or None, *facts for describe). ``money``
    gives, from the same facts, the exception's signed amount and currency (what the queue totals
    by kind and a write-off starts from); a provider object that is a settlement line becomes the
    exception's ``settlement_line`` too."""
    seen: set[tuple[str, str]] = set()
    exceptions = []
    for provider, object_id, payment_id, *raw_facts in rows:
        if (provider, object_id) in seen:
            continue
        # PostgreSQL's SUM of bigints is numeric (a Decimal); money stays integer minor units.
        facts = [int(f) if isinstance(f, Decimal) else f for f in raw_facts]
        seen.add((provider, object_id))
        amount, currency = money(*facts)
        exceptions.append(
            ReconciliationException(
                kind=kind,
                provider=provider[:30],
                provider_object_id=object_id[:100],
                payment_id=payment_id,
                detail=describe(object_id, *facts),
                amount=amount,
                currency=currency,
            )
        )
    created = ReconciliationException.objects.bulk_create(exceptions, batch_size=500)
    ReconciliationException.objects.filter(
        pk__in=[exception.pk for exception in created], settlement_line__isnull=True
    ).update(
        settlement_line_id=Subquery(
            SettlementLine.objects.filter(
                provider=OuterRef("provider"), provider_line_id=OuterRef("provider_object_id")
            ).values("id")[:1]
        )
    )
    return len(exceptions)


def _line_scope(provider: str | None) -> tuple[str, list[Any]]:
    return _provider_scope("l", provider)


def _exceptions(provider: str | None, now: datetime, result: MatchResult) -> None:
    scope, scope_params = _line_scope(provider)
    unmatched_after = now - timedelta(days=settings.SETTLEMENT_UNMATCHED_AFTER_DAYS)
    payout_late = now - timedelta(days=settings.SETTLEMENT_PAYOUT_LATE_DAYS)
    payment_items = (
        f"{T_LINE()} l JOIN {T_ITEM()} il ON il.line_id = l.id "
        f"JOIN {T_ITEM()} ip ON ip.match_id = il.match_id "
        f"JOIN {T_PAYMENT()} p ON p.id = ip.payment_id "
        f"JOIN {T_MATCH()} m ON m.id = il.match_id"
    )
    made: dict[str, int] = {}

    made["unmatched_line"] = _flag(
        "unmatched_line",
        _fetch(
            f"SELECT l.provider, l.provider_line_id, NULL, l.kind, l.amount, l.currency "
            f"FROM {T_LINE()} l WHERE {scope} AND l.created_at < %s AND {_unmatched('l', 'line')} "
            f"AND {_never_flagged('unmatched_line', 'l.provider', 'l.provider_line_id')}",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            [*scope_params, unmatched_after],
        ),
        lambda oid, kind, amount, currency: (
            f"Settlement line {oid} ({kind}, {format_money(amount, currency)}) matches nothing "
            f"after {settings.SETTLEMENT_UNMATCHED_AFTER_DAYS} days."
        ),
        lambda kind, amount, currency: (amount, currency),
    )
    pscope, pscope_params = _provider_scope("p", provider)
    made["unmatched_payment"] = _flag(
        "unmatched_payment",
        _fetch(
            f"SELECT p.provider, p.provider_payment_id, p.id, p.amount, p.currency "
            f"FROM {T_PAYMENT()} p WHERE {pscope} AND p.status = 'succeeded' "
            f"AND p.provider_payment_id <> '' AND COALESCE(p.succeeded_at, p.created_at) < %s "
            f"AND {_unmatched('p', 'payment')} "
            f"AND EXISTS (SELECT 1 FROM {T_LINE()} l2 WHERE l2.provider = p.provider) "
            f"AND {_never_flagged('unmatched_payment', 'p.provider', 'p.provider_payment_id')}",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            [*pscope_params, unmatched_after],
        ),
        lambda oid, amount, currency: (
            f"Payment {oid} ({format_money(amount, currency)}) succeeded more than "
            f"{settings.SETTLEMENT_UNMATCHED_AFTER_DAYS} days ago and no settlement line "
            "accounts for it."
        ),
        lambda amount, currency: (amount, currency),
    )
    made["amount_mismatch"] = _flag(
        "amount_mismatch",
        _fetch(
            f"SELECT l.provider, l.provider_line_id, p.id, l.amount, p.amount, l.currency "
            f"FROM {payment_items} WHERE {scope} AND m.method = '{MatchMethod.PROVIDER_ID}' "
            f"AND l.kind = '{SettlementKind.CHARGE}' AND l.currency = p.currency "
            f"AND l.amount <> p.amount "
            f"AND {_never_flagged('amount_mismatch', 'l.provider', 'l.provider_line_id')}",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            scope_params,
        ),
        lambda oid, line_amount, amount, currency: (
            f"Settlement line {oid} says {format_money(line_amount, currency)} but the payment "
            f"is {format_money(amount, currency)}."
        ),
        lambda line_amount, amount, currency: (line_amount - amount, currency),
    )
    # The fee the provider's lines took (Stripe: the charge line's fee; Asaas: its fee lines)
    # against the fee recorded on the payment, per payment.
    made["fee_mismatch"] = _flag(
        "fee_mismatch",
        _fetch(
            f"""SELECT f.provider, f.line_id, f.pid, f.fee, f.recorded, f.currency FROM (
                SELECT MIN(l.provider) AS provider, MIN(CASE WHEN l.kind = 'charge'
                       THEN l.provider_line_id END) AS line_id, p.id AS pid,
                       SUM(l.fee) - SUM(CASE WHEN l.kind = 'fee' THEN l.amount ELSE 0 END) AS fee,
                       MIN(p.fee_amount) AS recorded, MIN(l.currency) AS currency
                FROM {T_PAYMENT()} p JOIN {T_ITEM()} ip ON ip.payment_id = p.id
                JOIN {T_ITEM()} il ON il.match_id = ip.match_id
                JOIN {T_LINE()} l ON l.id = il.line_id
                WHERE {scope} AND l.kind IN ('charge', 'fee') AND p.fee_amount IS NOT NULL
                  AND l.currency = p.settlement_currency
                GROUP BY p.id) f
            WHERE f.line_id IS NOT NULL AND f.fee <> f.recorded
              AND {_never_flagged("fee_mismatch", "f.provider", "f.line_id")}""",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            scope_params,
        ),
        lambda oid, fee, recorded, currency: (
            f"The provider took {format_money(fee, currency)} in fees on {oid}; the payment "
            f"records {format_money(recorded, currency)}."
        ),
        lambda fee, recorded, currency: (fee - recorded, currency),
    )
    poscope, poscope_params = _provider_scope("po", provider)
    made["amount_mismatch"] += _flag(
        "amount_mismatch",
        _fetch(
            f"""SELECT po.provider, po.provider_payout_id, NULL, s.net, po.amount, po.currency
            FROM {T_PAYOUT()} po JOIN (
                SELECT l.provider, l.payout_id, SUM(l.net) AS net FROM {T_LINE()} l
                WHERE l.payout_id <> '' AND l.kind NOT IN {_in(PAYOUT_LINE_KINDS)}
                GROUP BY l.provider, l.payout_id) s
              ON s.provider = po.provider AND s.payout_id = po.provider_payout_id
            WHERE {poscope} AND po.status NOT IN {_in(DEAD_PAYOUT_STATUSES)}
              AND s.net <> po.amount
              AND {_never_flagged("amount_mismatch", "po.provider", "po.provider_payout_id")}""",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            poscope_params,
        ),
        lambda oid, net, amount, currency: (
            f"Payout {oid} is {format_money(amount, currency)} but its lines add up to "
            f"{format_money(net, currency)}."
        ),
        lambda net, amount, currency: (net - amount, currency),
    )
    # Lines that should have been paid out by now (they carry an available date, as Stripe's
    # do) and are in no payout: one exception per provider and day, named by its first line.
    made["missing_payout"] = _flag(
        "missing_payout",
        _fetch(
            f"""SELECT g.provider, g.line_id, NULL, g.n, g.net, g.currency FROM (
                SELECT l.provider AS provider, l.currency AS currency,
                       MIN(l.provider_line_id) AS line_id, COUNT(*) AS n, SUM(l.net) AS net
                FROM {T_LINE()} l
                WHERE {scope} AND l.payout_id = '' AND l.available_at IS NOT NULL
                  AND l.available_at < %s
                  AND l.kind NOT IN {_in((*PAYOUT_LINE_KINDS, SettlementKind.STATEMENT))}
                GROUP BY l.provider, l.currency, {_day("l.available_at")}) g
            WHERE {_never_flagged("missing_payout", "g.provider", "g.line_id")}""",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            [*scope_params, payout_late],
        ),
        lambda oid, n, net, currency: (
            f"{n} settlement lines ({format_money(net, currency)} net, first {oid}) became "
            f"available more than {settings.SETTLEMENT_PAYOUT_LATE_DAYS} days ago and no payout "
            "includes them."
        ),
        lambda n, net, currency: (net, currency),
    )
    made["chargeback_fee"] = _flag(
        "chargeback_fee",
        _fetch(
            f"""SELECT l.provider, l.provider_line_id, d.payment_id,
                   CASE WHEN l.kind = 'fee' THEN -l.amount ELSE l.fee END, l.currency
            FROM {T_LINE()} l LEFT JOIN {T_DISPUTE()} d
              ON d.provider = l.provider AND d.provider_dispute_id = l.source_id
            WHERE {scope} AND l.kind IN ('{SettlementKind.CHARGEBACK}', '{SettlementKind.FEE}')
              AND ((l.kind = '{SettlementKind.CHARGEBACK}' AND l.fee <> 0)
                OR (l.kind = '{SettlementKind.FEE}' AND (d.id IS NOT NULL
                    OR UPPER(l.provider_type) LIKE '%%CHARGEBACK%%'
                    OR UPPER(l.provider_type) LIKE '%%DISPUTE%%')))
              AND {_never_flagged("chargeback_fee", "l.provider", "l.provider_line_id")}""",  # nosec B608  # names from model metadata (quoted) and constants; values bound
            scope_params,
        ),
        lambda oid, fee, currency: (
            f"Chargeback fee of {format_money(fee, currency)} on settlement line {oid}."
        ),
        lambda fee, currency: (fee, currency),
    )
    result.exceptions.update(made)


# The run -----------------------------------------------------------------------------------


def settlements_match(
    *,
    provider: str | None = None,
    since: datetime | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> MatchResult:
    """Match unmatched settlement lines (of ``provider``, created since ``since`` for the
    provider-id pass) and flag what finance must look at. Idempotent: a second run with nothing
    new imported makes no match and no exception. Each pass runs in its own transaction."""
    result = MatchResult()
    now = timezone.now()
    passes: list[tuple[str, Callable[[], None]]] = [
        ("provider_id", lambda: _pass_provider_ids(provider, since, result)),
        ("rules", lambda: _pass_rules(provider, result)),
        ("exceptions", lambda: _exceptions(provider, now, result)),
    ]
    for name, run in passes:
        started = time.perf_counter()
        with transaction.atomic():
            run()
        result.seconds[name] = round(time.perf_counter() - started, 3)
        if progress is not None:
            progress(name, result.seconds[name])
    log.info(
        "settlement.matched",
        matches=result.matches_created,
        lines=result.lines_matched,
        exceptions=result.exceptions_created,
        seconds=result.seconds,
    )
    return result
