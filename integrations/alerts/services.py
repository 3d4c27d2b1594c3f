"""Staff alerts: raising one (deduplicated and rate-limited per object), and sending it to Slack
and by e-mail to the role's group.

``staff_alert_raise`` never sends inside the caller's transaction: it waits for the commit
(``transaction.on_commit``), then records the alert and hands it to a task. Per (kind, object)
one alert is told per ``STAFF_ALERT_WINDOW_SECONDS``: occurrences inside the window only add to
its ``repeats``, and the first occurrence after it raises a new alert that says how many were
held back. The row is the record of work: a send that fails for a reason retrying can help
(Slack down, a 429, the mail server refusing) stays pending with a backoff, and the periodic
``staff_alerts_send_due`` sends it later; nothing is lost while Slack is down.

Integrations imports no domain app: the entry points for other apps' objects (a dispute, a
reconciliation exception, an outbound endpoint) take what to say, not the object.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import Delivery, SendStatus, StaffAlert, StaffAlertKind

if TYPE_CHECKING:
    from integrations.alerts.slack import SlackClient

log = structlog.get_logger(__name__)

Kind = StaffAlertKind
OPS, FINANCE = "ops", "finance"
ROLE_OF_KIND: dict[str, str] = {
    Kind.DELIVERY_DEAD: OPS,
    Kind.BREAKER_OPEN: OPS,
    Kind.ENDPOINT_DISABLED: OPS,
    Kind.DISPUTE_OPENED: FINANCE,
    Kind.RECONCILIATION_EXCEPTION: FINANCE,
}
EMAILED_BY_FINANCE_NOTICES = frozenset({Kind.DISPUTE_OPENED, Kind.RECONCILIATION_EXCEPTION})
"""Kinds whose e-mail to finance ``payments.finance_notices`` already sends, once per dispute or
exception (with the evidence due date): the staff alert takes them to Slack only, so finance is
not mailed twice."""
SEND_TASK = "integrations.alerts.tasks.send"
CLAIM_SECONDS = 300
ERROR_MAX = 300
TITLE_MAX = 200


# Raising -------------------------------------------------------------------------------------


def staff_alert_raise(
    *, kind: str, object_key: str, title: str, text: str = "", url: str = ""
) -> None:
    """Tell the role of ``kind`` about ``object_key`` once the current transaction commits
    (at once outside one). Never raises into the caller: an alert that cannot be recorded is
    logged (the row that caused it, dead delivery or open breaker, is still there)."""
    if kind not in ROLE_OF_KIND:
        raise KeyError(f"Unknown staff alert kind {kind!r}.")
    transaction.on_commit(
        partial(
            _raise_after_commit, kind=kind, object_key=object_key, title=title, text=text, url=url
        ),
        robust=True,
    )


def _raise_after_commit(*, kind: str, object_key: str, title: str, text: str, url: str) -> None:
    try:
        alert = staff_alert_record(
            kind=kind, object_key=object_key, title=title, text=text, url=url
        )
    except Exception:  # boundary: the caller's work is committed and must not fail for this
        log.exception("staff_alert.record_failed", kind=kind, object_key=object_key)
        return
    if alert is not None:
        staff_alert_enqueue(alert_id=alert.pk)


def staff_alert_record(
    *, kind: str, object_key: str, title: str, text: str = "", url: str = ""
) -> StaffAlert | None:
    """Record one occurrence of ``kind`` for ``object_key``: a new alert to send (returned), or,
    while the object's current alert is younger than the window, one more repeat counted on it
    (None: nothing to send). Safe against concurrent callers: one current alert per (kind,
    object) is a unique constraint, and the loser of a race counts as a repeat."""
    window = timedelta(seconds=settings.STAFF_ALERT_WINDOW_SECONDS)
    for _ in range(3):
        now = timezone.now()
        with transaction.atomic():
            current = (
                StaffAlert.objects.select_for_update()
                .filter(kind=kind, object_key=object_key, current=True)
                .first()
            )
            if current is not None and current.raised_at > now - window:
                StaffAlert.objects.filter(pk=current.pk).update(
                    repeats=F("repeats") + 1, last_seen_at=now
                )
                log.info("staff_alert.held_back", kind=kind, object_key=object_key)
                return None
            held_back = 0
            if current is not None:
                held_back = current.repeats
                StaffAlert.objects.filter(pk=current.pk).update(current=False)
            try:
                with transaction.atomic():
                    return StaffAlert.objects.create(
                        kind=kind,
                        role=ROLE_OF_KIND[kind],
                        object_key=object_key[:120],
                        title=title[:TITLE_MAX],
                        text=text,
                        url=url[:500],
                        raised_at=now,
                        last_seen_at=now,
                        previous_repeats=held_back,
                        slack_status=SendStatus.PENDING if _slack_on() else SendStatus.OFF,
                        email_status=(
                            SendStatus.OFF
                            if kind in EMAILED_BY_FINANCE_NOTICES
                            else SendStatus.PENDING
                        ),
                        next_attempt_at=now,
                    )
            except IntegrityError:
                continue  # another process started the object's new alert: count on it
    return None


def staff_alert_enqueue(*, alert_id: int) -> bool:
    """Queue the send task; True if the broker took it. A broker down is logged: the alert is
    due (``next_attempt_at``) and the periodic sweep sends it."""
    try:
        async_task(SEND_TASK, alert_id, task_name=f"staff-alert-{alert_id}", save=False)
    except Exception as exc:  # the broker is a boundary; the row is the record
        log.warning("staff_alert.enqueue_failed", alert_id=alert_id, error=type(exc).__name__)
        return False
    return True


# Entry points per kind -----------------------------------------------------------------------


def staff_alert_delivery_dead(*, delivery: Delivery) -> None:
    """A Delivery row went dead: its subscriber will not be called again for the event until
    someone retries it."""
    event = delivery.event
    staff_alert_raise(
        kind=Kind.DELIVERY_DEAD,
        object_key=f"delivery:{delivery.pk}",
        title=f"Delivery dead: {delivery.subscriber} for {event.type} #{event.pk}",
        text=(
            f"Subscriber `{delivery.subscriber}` gave up on domain event `{event.type}` "
            f"#{event.pk} after {delivery.attempts} attempt(s).\n"
            f"Last error: {(delivery.last_error or '-')[:ERROR_MAX]}\n"
            "Retry it from its page once the cause is fixed."
        ),
        url=reverse("admin:integrations_delivery_change", args=[delivery.pk]),
    )


def staff_alert_breaker_opened(*, provider: str) -> None:
    """``provider``'s circuit breaker opened (or re-opened after a failed trial): its calls are
    refused and the work waits. A flapping breaker is told once per window."""
    staff_alert_raise(
        kind=Kind.BREAKER_OPEN,
        object_key=f"breaker:{provider}",
        title=f"Circuit breaker open: {provider}",
        text=(
            f"Calls to `{provider}` failed too often and are refused for "
            f"{settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS} s at a time; the work is queued and "
            "retried once a trial call succeeds. Reset the breaker from the admin once the "
            "provider is back."
        ),
        url=reverse("admin:integrations_circuitbreaker_changelist"),
    )


def staff_alert_endpoint_disabled(
    *, endpoint_id: int | str, endpoint_url: str, reason: str, admin_url: str = ""
) -> None:
    """An outbound webhook endpoint was disabled (issue 14 calls this when its deliveries keep
    failing): ``endpoint_url`` is the subscriber's URL (shown without its query string)."""
    shown = endpoint_url.split("?", 1)[0]
    staff_alert_raise(
        kind=Kind.ENDPOINT_DISABLED,
        object_key=f"endpoint:{endpoint_id}",
        title=f"Delivery endpoint disabled: {shown}"[:TITLE_MAX],
        text=f"No more events are sent to {shown} until it is enabled again.\nReason: {reason}",
        url=admin_url,
    )


def staff_alert_dispute_opened(
    *, dispute_id: int | str, title: str, text: str, admin_url: str = ""
) -> None:
    """A customer's bank opened a dispute (payments calls this after ``dispute.opened``)."""
    staff_alert_raise(
        kind=Kind.DISPUTE_OPENED,
        object_key=f"dispute:{dispute_id}",
        title=title,
        text=text,
        url=admin_url,
    )


def staff_alert_reconciliation_exception(
    *, exception_id: int | str, title: str, text: str, admin_url: str = ""
) -> None:
    """A provider contradicted our records (payments calls this after
    ``reconciliation.flagged``; issue 15's reconciliation calls it too)."""
    staff_alert_raise(
        kind=Kind.RECONCILIATION_EXCEPTION,
        object_key=f"reconciliation:{exception_id}",
        title=title,
        text=text,
        url=admin_url,
    )


# Sending -------------------------------------------------------------------------------------


def _slack_on() -> bool:
    return bool(settings.SLACK_ENABLED and (settings.SLACK_BOT_TOKEN or settings.SLACK_WEBHOOK_URL))


def role_emails(role: str) -> list[str]:
    """The e-mail addresses of the active users in ``role``'s group, sorted."""
    users = (
        get_user_model()
        .objects.filter(groups__name=role, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    return sorted(set(users))


def _retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    delay = min(30 * 2 ** max(0, attempts - 1), settings.STAFF_ALERT_RETRY_MAX_SECONDS)
    return timedelta(seconds=max(delay, retry_after or 0))


def staff_alert_send(*, alert_id: int, slack: SlackClient | None = None) -> StaffAlert | None:
    """Send what is still pending of alert ``alert_id`` (Slack, then e-mail) and record each
    outcome; returns the row, or None when another sender holds it. Idempotent: a part already
    sent is not sent again. Never raises for a failed send; must run outside any transaction
    (the Slack call goes through the outbound client)."""
    now = timezone.now()
    claimed = (
        StaffAlert.objects.filter(pk=alert_id)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return None
    alert = StaffAlert.objects.get(pk=alert_id)
    delays: list[timedelta] = []
    try:
        if alert.slack_status == SendStatus.PENDING:
            delays += _send_slack(alert, slack)
        if alert.email_status == SendStatus.PENDING:
            delays += _send_email(alert)
    finally:
        alert.next_attempt_at = timezone.now() + min(delays) if delays else None
        alert.claimed_until = None
        alert.save(
            update_fields=[
                "slack_status",
                "slack_attempts",
                "slack_error",
                "slack_sent_at",
                "email_status",
                "email_attempts",
                "email_error",
                "email_sent_at",
                "next_attempt_at",
                "claimed_until",
            ]
        )
    return alert


def _send_slack(alert: StaffAlert, slack: SlackClient | None) -> list[timedelta]:
    """Post to Slack; the delay before a retry when it should be retried."""
    if not _slack_on():
        alert.slack_status = SendStatus.OFF
        return []
    from integrations.alerts.slack import SlackClient

    alert.slack_attempts += 1
    try:
        (slack or SlackClient()).post(alert)
    except ProviderRejected as exc:
        alert.slack_status, alert.slack_error = SendStatus.FAILED, exc.detail[:ERROR_MAX]
        log.error("staff_alert.slack_refused", alert_id=alert.pk, error=alert.slack_error)
        return []
    except ProviderUnavailable as exc:
        alert.slack_error = exc.detail[:ERROR_MAX]
        if alert.slack_attempts >= settings.STAFF_ALERT_MAX_ATTEMPTS:
            alert.slack_status = SendStatus.FAILED
            return []
        log.warning("staff_alert.slack_unavailable", alert_id=alert.pk, error=alert.slack_error)
        return [_retry_delay(alert.slack_attempts, exc.retry_after)]
    alert.slack_status, alert.slack_error = SendStatus.SENT, ""
    alert.slack_sent_at = timezone.now()
    return []


def _send_email(alert: StaffAlert) -> list[timedelta]:
    recipients = role_emails(alert.role)
    if not recipients:
        alert.email_status = SendStatus.OFF
        alert.email_error = f"Nobody with an e-mail address in the {alert.role} group."
        return []
    alert.email_attempts += 1
    link = f"{settings.OPS_ALERT_BASE_URL.rstrip('/')}{alert.url}" if alert.url else ""
    lines = [alert.text or alert.title, ""]
    if alert.previous_repeats:
        lines.append(
            f"This happened {alert.previous_repeats} more time(s) since the last alert (held back)."
        )
    if link:
        lines.append(f"Admin: {link}")
    try:
        send_mail(
            subject=f"[{alert.get_kind_display()}] {alert.title}",
            message="\n".join(lines).strip() + "\n",
            from_email=None,
            recipient_list=recipients,
        )
    except (OSError, smtplib.SMTPException) as exc:
        alert.email_error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        if alert.email_attempts >= settings.STAFF_ALERT_MAX_ATTEMPTS:
            alert.email_status = SendStatus.FAILED
            return []
        return [_retry_delay(alert.email_attempts)]
    alert.email_status, alert.email_error = SendStatus.SENT, ""
    alert.email_sent_at = timezone.now()
    return []


def staff_alerts_send_due(*, limit: int = 100, slack: SlackClient | None = None) -> int:
    """Send the alerts whose pending part is due (a retry, or one whose task the broker lost);
    returns how many were tried. Never raises for one alert."""
    due = list(
        StaffAlert.objects.filter(next_attempt_at__lte=timezone.now())
        .filter(Q(slack_status=SendStatus.PENDING) | Q(email_status=SendStatus.PENDING))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for alert_id in due:
        try:
            staff_alert_send(alert_id=alert_id, slack=slack)
        except Exception:  # one broken alert must not stop the others
            log.exception("staff_alert.send_crashed", alert_id=alert_id)
    return len(due)
