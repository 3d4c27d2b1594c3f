"""Outbound webhooks: deliveries per second to a local receiver, and a kill -9 of the task
cluster mid-run with every message counted at the receiver by ``webhook-id``.

    python -m bench.outbound_webhooks [--messages 6000] [--q-workers 2] [--kill-at 0.4]

On a scratch SQLite file (the embedded profile: django-q2's ORM broker), this process serves a
receiver on 127.0.0.1 that verifies every Standard Webhooks signature with the official library
(config/fake_providers/webhook_receiver.py) and counts by ``webhook-id``; makes an endpoint for it
(``WEBHOOKS_OUT_ALLOWED_NETWORKS=127.0.0.1/32``, plain http allowed: the settings only tests and
this benchmark set); records ``--messages`` ``note.added`` domain events and fans each out to the
endpoint (``messages_fan_out``, as the subscriber does) before any worker runs, so the delivery
rate is measured on its own; then starts one task cluster (``manage.py qcluster``, ``--q-workers``
workers) and wakes a drain. When ``--kill-at`` of the messages have reached the receiver it
SIGKILLs the cluster's whole process group, starts a new one and, every 2 s, does what the
minute sweeper does (wakes a drain when a message is due; stale claims are due after
``WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS``, 10 s here).

Prints the rate before the kill (deliveries/s at the receiver), the time to finish after it,
lost (messages never taken by the receiver), duplicated (a ``webhook-id`` the receiver's
deduplication took twice: always 0 by construction, the check is that it stays 0 in the rows
too) and redelivered (the same ``webhook-id`` received again: at-least-once delivery after a
kill, which receivers are told to deduplicate), and the messages' final statuses.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.harness import ROOT


def _env(workdir: Path, q_workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"sqlite:///{workdir / 'outbound.sqlite3'}",
        "REDIS_URL": "",
        "Q_WORKERS": str(q_workers),
        "WEBHOOKS_OUT_ALLOWED_NETWORKS": "127.0.0.1/32",
        "WEBHOOKS_OUT_ALLOW_HTTP": "true",
        "WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS": "10",
        "LOG_LEVEL": "WARNING",
    }


def _cluster(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--q-workers", type=int, default=2)
    parser.add_argument("--kill-at", type=float, default=0.4)
    parser.add_argument("--settle", type=float, default=180)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="switchboard-outbound-"))
    env = _env(workdir, args.q_workers)
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )

    import django

    django.setup()
    from django.db import transaction

    from accounts.models import Customer
    from config.fake_providers.webhook_receiver import webhook_receiver
    from integrations.events import record_event, recording_history
    from integrations.models import WebhookMessage
    from integrations.webhooks_out.services import (
        drain_asleep,
        drain_wake,
        endpoint_create,
        messages_fan_out,
    )

    with webhook_receiver() as receiver:
        receiver.keep_requests = False
        _endpoint, secret = endpoint_create(url=f"{receiver.url}/hooks", event_types=["note.*"])
        receiver.secrets.append(secret)
        customer = Customer.objects.create(email="bench@example.test", name="Bench")
        started = time.monotonic()
        for first in range(0, args.messages, 500):
            with transaction.atomic(), recording_history():
                for i in range(first, min(first + 500, args.messages)):
                    event = record_event(
                        type="note.added", customer=customer, data={"excerpt": f"note {i}"}
                    )
                    messages_fan_out(event=event)
        print(
            f"{args.messages} messages queued in {time.monotonic() - started:.1f} s "
            f"(events recorded and fanned out, before any worker ran)"
        )

        logdir = workdir / "tasks.log"
        cluster = _cluster(env, logdir)
        drain_asleep()
        drain_wake()
        t0 = time.monotonic()
        kill_after = int(args.messages * args.kill_at)
        t_first = None
        while len(receiver.taken) < kill_after:
            if t_first is None and receiver.taken:
                t_first = time.monotonic()
            if time.monotonic() - t0 > args.settle:
                break
            time.sleep(0.02)
        before_kill = len(receiver.taken)
        t_kill = time.monotonic()
        rate = before_kill / (t_kill - t0)
        print(
            f"before the kill: {before_kill} deliveries in {t_kill - t0:.2f} s from the "
            f"cluster's start = {rate:.0f}/s"
        )
        if t_first is not None:
            steady = (before_kill - 1) / max(t_kill - t_first, 1e-6)
            print(f"  from the first delivery: {steady:.0f}/s")

        _kill_group(cluster, signal.SIGKILL)
        stuck = WebhookMessage.objects.filter(status="sending").count()
        print(f"kill -9 of the task cluster: {stuck} messages left claimed (sending)")
        cluster = _cluster(env, logdir)
        last_wake = 0.0
        while len(receiver.taken) < args.messages and time.monotonic() - t_kill < args.settle:
            if time.monotonic() - last_wake > 2:
                from integrations.webhooks_out import tasks

                tasks.sweep()
                last_wake = time.monotonic()
            time.sleep(0.05)
        done = time.monotonic()
        after = len(receiver.taken) - before_kill
        print(
            f"after the kill: {after} more in {done - t_kill:.1f} s "
            "(a new cluster; the killed one's claims are taken again after the 10 s claim timeout)"
        )
        print(f"overall: {len(receiver.taken)} in {done - t0:.1f} s")
        time.sleep(1)
        _kill_group(cluster, signal.SIGTERM)

        statuses = Counter(WebhookMessage.objects.values_list("status", flat=True))
        all_ids = set(WebhookMessage.objects.values_list("msg_id", flat=True))
        lost = len(all_ids - set(receiver.taken))
        print(f"lost: {lost}")
        print(
            f"duplicated (a webhook-id taken twice by the deduplicating receiver): 0 by set; "
            f"ids at the receiver not in the rows: {len(set(receiver.taken) - all_ids)}"
        )
        print(f"redelivered (same webhook-id received again, deduplicated): {receiver.duplicates}")
        print(f"message statuses: {dict(statuses)}")
        print(f"workdir: {workdir}")


if __name__ == "__main__":
    main()
