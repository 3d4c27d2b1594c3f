"""Issue 13 item 4: quiet hours in the customer's time zone. A message that can wait is held
(``send_after`` = the end of quiet hours, a ``notification.deferred`` event) and sent by the
minutely job once due, correctly across the spring-forward and fall-back nights; an urgent
transactional message goes out at once."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured, ValidationError

from accounts.models import Customer
from integrations.models import DomainEvent
from integrations.schedules import SCHEDULES
from notifications.models import NotificationStatus
from notifications.policy.quiet_hours import QuietHours, parse_quiet_hours, quiet_until
from notifications.services import notification_queue
from notifications.tasks import send_due
from notifications.workflows import notification_deliver, notification_send_due
from tests.factories import make_customer

NIGHT = QuietHours(start=time(21, 0), end=time(8, 0))
NEW_YORK = ZoneInfo("America/New_York")
LISBON = ZoneInfo("Europe/Lisbon")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        # New York springs forward on 2026-03-08 at 02:00 (EST -5 -> EDT -4).
        (utc(2026, 3, 8, 3, 0), NEW_YORK, utc(2026, 3, 8, 12, 0)),  # 22:00 EST -> 08:00 EDT
        (utc(2026, 3, 8, 7, 30), NEW_YORK, utc(2026, 3, 8, 12, 0)),  # 03:30 EDT, after the gap
        # ... and falls back on 2026-11-01 at 02:00 (EDT -4 -> EST -5).
        (utc(2026, 11, 1, 2, 0), NEW_YORK, utc(2026, 11, 1, 13, 0)),  # 22:00 EDT -> 08:00 EST
        (utc(2026, 11, 1, 5, 30), NEW_YORK, utc(2026, 11, 1, 13, 0)),  # 01:30 EDT (first)
        (utc(2026, 11, 1, 6, 30), NEW_YORK, utc(2026, 11, 1, 13, 0)),  # 01:30 EST (second)
        # Lisbon springs forward on 2026-03-29 at 01:00 (WET +0 -> WEST +1) ...
        (utc(2026, 3, 28, 22, 0), LISBON, utc(2026, 3, 29, 7, 0)),
        # ... and falls back on 2026-10-25 at 02:00 (WEST +1 -> WET +0).
        (utc(2026, 10, 24, 21, 0), LISBON, utc(2026, 10, 25, 8, 0)),
        # No DST in Sao Paulo: 23:00 -03 -> 08:00 -03; and 07:59 is still night.
        (utc(2026, 6, 2, 2, 0), SAO_PAULO, utc(2026, 6, 2, 11, 0)),
        (utc(2026, 6, 2, 10, 59), SAO_PAULO, utc(2026, 6, 2, 11, 0)),
    ],
)
def test_quiet_hours_end_at_the_local_morning_across_dst(
    now: datetime, tz: ZoneInfo, expected: datetime
) -> None:
    assert quiet_until(now=now, tz=tz, quiet=NIGHT) == expected


def test_outside_quiet_hours_nothing_is_held() -> None:
    assert quiet_until(now=utc(2026, 6, 2, 11, 0), tz=SAO_PAULO, quiet=NIGHT) is None  # 08:00
    assert quiet_until(now=utc(2026, 6, 2, 23, 59), tz=SAO_PAULO, quiet=NIGHT) is None  # 20:59
    assert quiet_until(now=utc(2026, 6, 2, 0, 0), tz=SAO_PAULO, quiet=None) is None
    lunch = QuietHours(start=time(12, 0), end=time(14, 0))
    assert quiet_until(now=utc(2026, 6, 2, 16, 0), tz=SAO_PAULO, quiet=lunch) == utc(
        2026, 6, 2, 17, 0
    )


def test_an_end_skipped_by_the_spring_forward_gap_resolves_after_the_gap() -> None:
    quiet = QuietHours(start=time(21, 0), end=time(2, 30))  # 02:30 does not exist on 03-08
    assert quiet_until(now=utc(2026, 3, 8, 3, 0), tz=NEW_YORK, quiet=quiet) == utc(
        2026, 3, 8, 7, 30
    )  # 03:30 EDT


@pytest.mark.parametrize("value", ["21:00", "25:00-08:00", "21:00-8:00", "٢١:00-08:00", "x"])
def test_a_malformed_quiet_hours_setting_is_refused(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="NOTIFICATION_QUIET_HOURS"):
        parse_quiet_hours(value)


@pytest.mark.django_db
def test_a_customer_time_zone_must_be_an_iana_name() -> None:
    customer = make_customer()
    customer.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError, match="IANA time zone"):
        customer.full_clean()
    customer.time_zone = "../../etc/passwd"
    with pytest.raises(ValidationError):
        customer.full_clean()
    customer.time_zone = "Europe/Lisbon"
    customer.full_clean()


@pytest.fixture
def night_owl(db: None, settings: Any) -> Customer:
    settings.NOTIFICATION_QUIET_HOURS = "21:00-08:00"
    return make_customer(email="owl@example.test", time_zone="America/New_York")


def test_a_message_at_night_is_deferred_and_sent_when_due_across_spring_forward(
    night_owl: Customer,
) -> None:
    evening = utc(2026, 3, 8, 3, 0)  # 22:00 EST, the night the clocks spring forward
    notification = notification_queue(
        customer=night_owl,
        channel="email",
        template="order_shipped",
        subject="Shipped",
        body="Your order shipped.",
    )

    held = notification_deliver(notification=notification, now=evening)

    assert held.status == NotificationStatus.QUEUED
    assert held.send_after == utc(2026, 3, 8, 12, 0)  # 08:00 EDT, not 13:00
    assert mail.outbox == []
    event = DomainEvent.objects.get(type="notification.deferred")
    assert event.customer_id == night_owl.pk
    assert event.data["send_after"] == "2026-03-08T12:00:00+00:00"
    assert "held until 2026-03-08 08:00 local time" in event.data["reason"]

    early = notification_send_due(now=utc(2026, 3, 8, 11, 59))
    assert early["due"] == 0 and mail.outbox == []

    done = notification_send_due(now=utc(2026, 3, 8, 12, 0))
    held.refresh_from_db()
    assert done == {"due": 1, "sent": 1, "failed": 0, "waiting": 0}
    assert held.status == NotificationStatus.SENT
    assert [m.to for m in mail.outbox] == [["owl@example.test"]]
    assert notification_send_due(now=utc(2026, 3, 8, 12, 5))["due"] == 0, "sent once"


def test_fall_back_night_is_held_until_eight_standard_time(night_owl: Customer) -> None:
    notification = notification_queue(
        customer=night_owl, channel="email", template="t", subject="s", body="b"
    )
    held = notification_deliver(notification=notification, now=utc(2026, 11, 1, 2, 0))
    assert held.send_after == utc(2026, 11, 1, 13, 0)
    assert notification_send_due(now=utc(2026, 11, 1, 12, 30))["due"] == 0
    assert notification_send_due(now=utc(2026, 11, 1, 13, 0))["sent"] == 1


def test_an_urgent_transactional_message_overrides_quiet_hours(night_owl: Customer) -> None:
    urgent = notification_queue(
        customer=night_owl,
        channel="email",
        template="payment_failed",
        subject="s",
        body="b",
        urgent=True,
    )
    marketing_urgent = notification_queue(
        customer=night_owl,
        channel="email",
        template="promo",
        subject="s",
        body="b",
        urgent=True,
        category="marketing",
    )
    from notifications.consent.services import consent_opt_in

    consent_opt_in(customer=night_owl, channel="email", source="staff")
    night = utc(2026, 6, 2, 4, 0)  # 00:00 in New York

    sent = notification_deliver(notification=urgent, now=night)
    held = notification_deliver(notification=marketing_urgent, now=night)

    assert sent.status == NotificationStatus.SENT and sent.send_after is None
    assert held.status == NotificationStatus.QUEUED, "only transactional messages may be urgent"
    assert len(mail.outbox) == 1


def test_the_customers_own_quiet_hours_replace_the_setting(night_owl: Customer) -> None:
    night_owl.quiet_hours_start, night_owl.quiet_hours_end = time(23, 0), time(7, 0)
    night_owl.save()
    notification = notification_queue(
        customer=night_owl, channel="email", template="t", subject="s", body="b"
    )
    at_ten_pm = utc(2026, 6, 2, 2, 0)  # 22:00 EDT: quiet by the setting, not for this customer
    assert notification_deliver(notification=notification, now=at_ten_pm).status == "sent"


def test_the_send_due_job_is_registered_by_migrate() -> None:
    (job,) = [job for job in SCHEDULES if job.name == "notifications-send-due"]
    assert job.func == "notifications.tasks.send_due" and job.minutes == 1
    assert send_due.__module__ == "notifications.tasks"
