"""The send policy's decision: for a queued notification, send, defer until a time, or refuse
with a code and a sentence, before any provider call.

The checks, in order (the first that says no is the answer):

1. consent: the customer opted out of the channel -> refuse ``opted_out``;
2. e-mail suppression: the address bounced or complained -> refuse ``suppressed``;
3. marketing needs an opt-in on the channel (the newest consent row is an opt-in) -> refuse
   ``no_opt_in``;
4. the customer's preference for the category on the channel -> refuse ``preference``
   (transactional e-mail is always allowed: no preference turns it off);
5. WhatsApp's 24-hour window, for providers that carry real WhatsApp: outside it only an
   approved template of (template key, language, provider) is sent -> else refuse
   ``whatsapp_window`` (Z-API has no templates: outside the window it is refused);
6. quiet hours in the customer's time zone -> defer to their end (an urgent transactional
   message goes out anyway);
7. the per-customer rate limit over every channel -> refuse ``rate_limited`` (urgent
   transactional messages are neither counted nor refused). A message let through is charged
   under the customer's row lock, so concurrent workers never exceed the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from accounts.models import Customer
from notifications.channels import get_channel
from notifications.models import (
    ConsentAction,
    MessageCategory,
    Notification,
    NotificationChannel,
    Refusal,
    SuppressionReason,
)
from notifications.policy.models import WhatsAppTemplate
from notifications.policy.quiet_hours import QuietHours, parse_quiet_hours, quiet_until, zone
from notifications.policy.reads import (
    charge_or_count,
    consent_now,
    last_inbound_at,
    preference_now,
    suppression_now,
)
from notifications.policy.selectors import WHATSAPP_WINDOW, approved_template, customer_language


class Verdict(StrEnum):
    SEND = "send"
    DEFER = "defer"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    refusal: str = ""
    """A ``Refusal`` code when refused."""
    reason: str = ""
    """The sentence staff read on the timeline (refused or deferred)."""
    send_after: datetime | None = None
    """Deferred until (UTC)."""
    template: WhatsAppTemplate | None = None
    """Send this approved WhatsApp template instead of free text (outside the window)."""

    @classmethod
    def refuse(cls, refusal: Refusal, reason: str) -> Decision:
        return cls(Verdict.REFUSE, refusal=refusal.value, reason=reason)


SEND = Decision(Verdict.SEND)


def _is_urgent_transactional(notification: Notification) -> bool:
    return notification.urgent and notification.category == MessageCategory.TRANSACTIONAL


def _label(channel: str) -> str:
    return NotificationChannel(channel).label


def _consent_checks(notification: Notification) -> Decision | None:
    channel = notification.channel
    consent = consent_now(customer_id=notification.customer_id, channel=channel)
    if consent is not None and consent[0] == ConsentAction.OPT_OUT:
        _, occurred_at, source = consent
        return Decision.refuse(
            Refusal.OPTED_OUT,
            f"The customer opted out of {_label(channel)} on "
            f"{occurred_at:%Y-%m-%d %H:%M} UTC ({source}).",
        )
    if channel == NotificationChannel.EMAIL:
        suppression = suppression_now(address=notification.recipient)
        if suppression is not None:
            reason, since = suppression
            return Decision.refuse(
                Refusal.SUPPRESSED,
                f"{notification.recipient} is on the suppression list "
                f"({SuppressionReason(reason).label} since {since:%Y-%m-%d}).",
            )
    if notification.category == MessageCategory.MARKETING and (
        consent is None or consent[0] != ConsentAction.OPT_IN
    ):
        return Decision.refuse(
            Refusal.NO_OPT_IN,
            f"Marketing is never sent by {_label(channel)} without the customer's opt-in "
            "on that channel.",
        )
    transactional_email = (
        notification.category == MessageCategory.TRANSACTIONAL
        and channel == NotificationChannel.EMAIL
    )
    if not transactional_email and not preference_now(
        customer_id=notification.customer_id, category=notification.category, channel=channel
    ):
        return Decision.refuse(
            Refusal.PREFERENCE,
            f"The customer turned {_label(channel)} off for "
            f"{MessageCategory(notification.category).label.lower()} messages.",
        )
    return None


def whatsapp_provider() -> tuple[str, bool, bool]:
    """(name, under WhatsApp's window, sends templates) of the provider carrying WhatsApp. The
    sandbox emulates no window; Z-API is free text only; Twilio sends approved templates."""
    channel = get_channel(NotificationChannel.WHATSAPP)
    return (
        channel.name,
        bool(getattr(channel, "whatsapp_window", False)),
        bool(getattr(channel, "whatsapp_templates", False)),
    )


def _whatsapp_check(notification: Notification, customer: Customer, now: datetime) -> Decision:
    provider, windowed, templates = whatsapp_provider()
    last = last_inbound_at(customer_id=customer.pk, provider=provider) if windowed else None
    if not windowed or (last is not None and now - last < WHATSAPP_WINDOW):
        return SEND
    language = customer_language(customer)
    if templates:
        template = approved_template(
            key=notification.template, language=language, provider=provider
        )
        if template is not None:
            return Decision(Verdict.SEND, template=template)
        return Decision.refuse(
            Refusal.WHATSAPP_WINDOW,
            f"The customer has not written on WhatsApp in the last 24 hours and no approved "
            f"template '{notification.template}' ({language}) is registered for {provider}.",
        )
    return Decision.refuse(
        Refusal.WHATSAPP_WINDOW,
        f"The customer has not written on WhatsApp in the last 24 hours, and {provider} sends "
        "free text only (no approved templates).",
    )


@lru_cache(maxsize=64)
def _setting_quiet_hours(value: str) -> QuietHours | None:
    return parse_quiet_hours(value)


def quiet_hours_of(customer: Customer) -> QuietHours | None:
    """The customer's own quiet hours when both ends are set, else the setting's."""
    if customer.quiet_hours_start is not None and customer.quiet_hours_end is not None:
        return QuietHours(start=customer.quiet_hours_start, end=customer.quiet_hours_end)
    return _setting_quiet_hours(str(settings.NOTIFICATION_QUIET_HOURS or ""))


def time_zone_of(customer: Customer) -> str:
    return customer.time_zone or str(settings.CUSTOMER_DEFAULT_TIME_ZONE)


def _quiet_check(customer: Customer, now: datetime) -> Decision | None:
    name = time_zone_of(customer)
    quiet = quiet_hours_of(customer)
    until = quiet_until(now=now, tz=zone(name), quiet=quiet)
    if until is None:
        return None
    local = until.astimezone(zone(name))
    return Decision(
        Verdict.DEFER,
        send_after=until,
        reason=f"Quiet hours ({quiet}, {name}): held until {local:%Y-%m-%d %H:%M} local time.",
    )


def _limits() -> list[tuple[timedelta, int, str]]:
    limits = [
        (timedelta(hours=1), int(settings.NOTIFICATION_RATE_LIMIT_PER_HOUR), "hour"),
        (timedelta(days=1), int(settings.NOTIFICATION_RATE_LIMIT_PER_DAY), "day"),
    ]
    return [limit for limit in limits if limit[1] > 0]


def rate_limit_charge(*, notification: Notification, now: datetime) -> Decision:
    """Count the notification against its customer's rate limit, or refuse it. Under the
    customer's row lock (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the write transaction), so
    the count and the charge are one step across workers. A notification already charged (a
    retry of its send) passes without a second charge."""
    limits = _limits()
    if not limits:
        return SEND
    broken = charge_or_count(
        customer_id=notification.customer_id,
        notification_id=notification.pk,
        now=now,
        limits=limits,
    )
    if broken is None:
        return SEND
    word, seen, most = broken
    return Decision.refuse(
        Refusal.RATE_LIMITED,
        f"Rate limit: the customer already had {seen} messages in the last {word} "
        f"(at most {most}).",
    )


def notification_policy_decide(
    *, notification: Notification, now: datetime | None = None
) -> Decision:
    """Send, defer or refuse the queued ``notification`` (see the module docstring). Makes no
    provider call. Writes only the rate limit's charge of a message it lets through (idempotent
    per notification); never changes the notification itself (``notification_deliver`` does)."""
    now = now or timezone.now()
    customer = notification.customer
    refused = _consent_checks(notification)
    if refused is not None:
        return refused
    decision = SEND
    if notification.channel == NotificationChannel.WHATSAPP:
        decision = _whatsapp_check(notification, customer, now)
        if decision.verdict == Verdict.REFUSE:
            return decision
    if _is_urgent_transactional(notification):
        return decision
    deferred = _quiet_check(customer, now)
    if deferred is not None:
        return deferred
    charged = rate_limit_charge(notification=notification, now=now)
    return charged if charged.verdict == Verdict.REFUSE else decision
