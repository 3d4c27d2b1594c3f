"""Send-policy decisions per second: ``notifications.policy.decide.notification_policy_decide``
on the embedded profile, without the provider call.

    python -m bench.notification_decisions [--customers 5000] [--decisions 5000] [--seed 13]

A scratch SQLite file (the embedded profile's settings: WAL, IMMEDIATE transactions) is migrated
and filled, in bulk and untimed, with ``--customers`` customers spread over five time zones
(three with DST), each with a realistic ledger: 0-4 consent decisions per channel history,
0-3 preference changes, 0-3 inbound WhatsApp messages over the last three days (half of them
inside the 24-hour window), 8-14 sent messages over the last two days each charged against the
rate limit, 2% of the e-mail addresses suppressed, and approved Twilio templates for half of the
template keys. WhatsApp and SMS go through Twilio (enabled with throwaway credentials: nothing is
called), quiet hours are 21:00-08:00 in each customer's zone, the rate limit 12 an hour and 40 a
day.

Then ``--decisions`` queued notifications to random customers (e-mail, WhatsApp, SMS; 80%
transactional, 10% urgent) are made, untimed, and each is decided once, timed on its own: every
check runs (consent, suppression, opt-in, preference, WhatsApp window and template, quiet hours
in the customer's zone, and the rate limit's count and charge under the customer's lock, a
write). Reported: decisions per second over the timed calls, p50/p95/p99/max per decision, and
the verdicts. Goal (issue 13): at least 500/s and p99 at most 2 ms.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ZONES = [
    "America/Sao_Paulo",
    "America/Manaus",
    "America/New_York",
    "Europe/Lisbon",
    "Australia/Sydney",
]
TEMPLATES = ["order_paid", "order_shipped", "shipment_delivered", "refund_succeeded", "promo"]


def _setup(workdir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": f"sqlite:///{workdir / 'decisions.sqlite3'}",
            "REDIS_URL": "",
            "MESSAGE_CHANNELS": "email=email,whatsapp=twilio,sms=twilio",
            "TWILIO_ENABLED": "true",
            "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
            "TWILIO_AUTH_TOKEN": "fedcba9876543210" * 2,
            "TWILIO_FROM": "+15005550006",
            "TWILIO_STATUS_CALLBACK_URL": "https://switchboard.example.com/webhooks/twilio/",
            "NOTIFICATION_QUIET_HOURS": "21:00-08:00",
            "NOTIFICATION_RATE_LIMIT_PER_HOUR": "12",
            "NOTIFICATION_RATE_LIMIT_PER_DAY": "40",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _fill(customers: int, rng: random.Random) -> list[int]:
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Customer
    from notifications.models import ConsentRecord, EmailSuppression, Notification
    from notifications.policy.models import (
        NotificationPreference,
        RateLimitCharge,
        WhatsAppInbound,
        WhatsAppTemplate,
    )

    now = timezone.now()
    with transaction.atomic():
        rows = Customer.objects.bulk_create(
            Customer(
                name=f"Customer {i}",
                email=f"c{i}@example.test",
                phone=f"+55119{i:08d}",
                language=rng.choice(["pt-br", "pt-br", "en"]),
                time_zone=rng.choice(ZONES),
            )
            for i in range(customers)
        )
        ids = [c.pk for c in rows]
        consents, preferences, inbound, past = [], [], [], []
        for pk in ids:
            for channel in ("email", "whatsapp", "sms"):
                for n in range(rng.randint(0, 4) if rng.random() < 0.5 else 0):
                    consents.append(
                        ConsentRecord(
                            customer_id=pk,
                            channel=channel,
                            action=rng.choice(["opt_in", "opt_in", "opt_out"]),
                            source="bench",
                            occurred_at=now - timedelta(days=30 - n),
                        )
                    )
            for n in range(rng.randint(0, 3)):
                preferences.append(
                    NotificationPreference(
                        customer_id=pk,
                        category=rng.choice(["transactional", "marketing"]),
                        channel=rng.choice(["whatsapp", "sms"]),
                        allowed=rng.random() < 0.5,
                        set_at=now - timedelta(days=10 - n),
                    )
                )
            for _ in range(rng.randint(0, 3)):
                inbound.append(
                    WhatsAppInbound(
                        customer_id=pk,
                        provider="twilio",
                        phone=f"+55119{pk:08d}",
                        received_at=now - timedelta(hours=rng.uniform(0, 72)),
                    )
                )
            for n in range(rng.randint(8, 14)):
                past.append((pk, now - timedelta(hours=rng.uniform(0, 48)), n))
        ConsentRecord.objects.bulk_create(consents, batch_size=2000)
        NotificationPreference.objects.bulk_create(preferences, batch_size=2000)
        WhatsAppInbound.objects.bulk_create(inbound, batch_size=2000)
        sent = Notification.objects.bulk_create(
            (
                Notification(
                    customer_id=pk,
                    channel="email",
                    template=f"history_{n}",
                    recipient=f"c{pk}@example.test",
                    body="x",
                    status="sent",
                    sent_at=when,
                )
                for pk, when, n in past
            ),
            batch_size=2000,
        )
        RateLimitCharge.objects.bulk_create(
            (
                RateLimitCharge(
                    customer_id=n.customer_id, notification=n, charged_at=n.sent_at or now
                )
                for n in sent
            ),
            batch_size=2000,
        )
        EmailSuppression.objects.bulk_create(
            EmailSuppression(address=f"c{i}@example.test", reason="bounced")
            for i in rng.sample(range(customers), customers // 50)
        )
        for key in TEMPLATES[::2]:
            for language in ("pt-br", "en"):
                WhatsAppTemplate.objects.create(
                    key=key,
                    language=language,
                    provider="twilio",
                    provider_template="HX" + f"{abs(hash((key, language))):032x}"[-32:],
                    variables=["first_name", "order_number"],
                    content="Olá {{1}}, pedido {{2}}.",
                    approved=True,
                )
    return ids


def _queue(ids: list[int], decisions: int, rng: random.Random) -> list[int]:
    from notifications.models import Notification

    made = Notification.objects.bulk_create(
        (
            Notification(
                customer_id=pk,
                channel=(channel := rng.choice(["email", "whatsapp", "sms"])),
                template=rng.choice(TEMPLATES),
                recipient=f"c{pk}@example.test" if channel == "email" else f"+55119{pk:08d}",
                body="Your order ...",
                category="marketing" if rng.random() < 0.2 else "transactional",
                urgent=rng.random() < 0.1,
            )
            for pk in (rng.choice(ids) for _ in range(decisions))
        ),
        batch_size=2000,
    )
    return [n.pk for n in made]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="switchboard-decisions-") as tmp:
        _setup(Path(tmp))
        from notifications.models import Notification
        from notifications.policy.decide import notification_policy_decide

        started = time.perf_counter()
        ids = _fill(args.customers, rng)
        pks = _queue(ids, args.decisions, rng)
        print(f"filled {args.customers} customers in {time.perf_counter() - started:.1f} s")
        notifications = Notification.objects.select_related("customer").in_bulk(pks)
        from django.db import connection

        if connection.vendor == "sqlite":  # the fill's WAL is not the decisions' to checkpoint
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        gc.collect()
        gc.freeze()
        timings: list[float] = []
        by_verdict: dict[str, list[float]] = {}
        verdicts: Counter[str] = Counter()
        for pk in pks:
            notification = notifications[pk]
            t0 = time.perf_counter()
            decision = notification_policy_decide(notification=notification)
            timings.append(time.perf_counter() - t0)
            verdicts[decision.refusal or decision.verdict.value] += 1
            by_verdict.setdefault(decision.refusal or decision.verdict.value, []).append(
                timings[-1] * 1000
            )
        total = sum(timings)
        rate = len(timings) / total
        ms = [t * 1000 for t in timings]
        p99 = _pct(ms, 99)
        print(f"decisions: {len(ms)} in {total:.2f} s -> {rate:.0f}/s")
        print(
            f"per decision: p50 {statistics.median(ms):.3f} ms, p95 {_pct(ms, 95):.3f} ms, "
            f"p99 {p99:.3f} ms, max {max(ms):.3f} ms"
        )
        print("verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.most_common()))
        for verdict, values in sorted(by_verdict.items()):
            print(
                f"  {verdict}: p50 {statistics.median(values):.3f} ms, "
                f"p99 {_pct(values, 99):.3f} ms"
            )
        met = rate >= 500 and p99 <= 2.0
        print(f"goal (>= 500/s, p99 <= 2 ms): {'met' if met else 'NOT met'}")
        return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
