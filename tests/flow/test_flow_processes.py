"""The whole flow with a real web server and a real django-q2 cluster as separate processes
(``manage.py run_demo``), with sandbox chaos on: duplicate deliveries and reordering. It must reach
the same final state as the in-process test."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from tests.flow.test_whole_flow import NOTIFIED_STEPS, ORDER

# Paid and delivered are announced whatever the order the carrier's facts arrive in.
ALWAYS_NOTIFIED = {"order_paid", "shipment_delivered"}

ROOT = Path(__file__).resolve().parents[2]
STATE = """
import json
from integrations.models import Delivery, WebhookEvent
from notifications.models import Notification
from orders.models import Order
o = Order.objects.get(number={number!r})
p = o.payments.get(); s = o.shipments.first()
print(json.dumps({{
  "order": o.status, "payment": p.status, "shipment": s.status if s else None,
  "tracking": s.tracking_code if s else "",
  "notifications": sorted([n.template, n.channel, n.status] for n in Notification.objects.filter(customer=o.customer)),
  "open_webhooks": WebhookEvent.objects.exclude(status__in=["processed", "ignored"]).count(),
  "open_deliveries": Delivery.objects.exclude(status="succeeded").count(),
  "webhooks": WebhookEvent.objects.count(),
}}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _state(env: dict[str, str], number: str) -> dict[str, Any]:
    out = _manage(env, "shell", "-c", STATE.format(number=number))
    return json.loads(out.strip().splitlines()[-1])


def _settled(state: dict[str, Any]) -> bool:
    whatsapp_done = all(
        status == "read" for _, channel, status in state["notifications"] if channel == "whatsapp"
    )
    steps = {template for template, _, _ in state["notifications"]}
    return (
        state["order"] == "delivered"
        and steps >= ALWAYS_NOTIFIED
        and whatsapp_done
        and state["open_webhooks"] == 0
        and state["open_deliveries"] == 0
    )


@pytest.mark.slow
def test_web_and_cluster_processes_with_chaos_reach_the_same_final_state(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'flow.sqlite3'}",
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
        "SANDBOX_WEBHOOK_SECRET": "whsec_Zmxvdy10ZXN0LW9ubHktc2VjcmV0LXRoaXJ0eS10d28h",
        "SANDBOX_WEBHOOK_TARGET": f"http://127.0.0.1:{port}",
        "SANDBOX_CHAOS_DUPLICATE_RATE": "0.6",
        "SANDBOX_CHAOS_REORDER": "true",
        "SANDBOX_DELAY_MIN_MS": "10",
        "SANDBOX_DELAY_MAX_MS": "400",
        "Q_WORKERS": "3",
        "LOG_LEVEL": "INFO",
        # The final state must not depend on the hour the test runs at (quiet hours hold
        # messages back at night: tests/notifications/test_policy_quiet_hours.py).
        "NOTIFICATION_QUIET_HOURS": "",
    }
    _manage(env, "migrate", "--no-input")
    raw_key = (
        _manage(
            env,
            "shell",
            "-c",
            "from accounts.access.api_keys import api_key_create; "
            "print(api_key_create(name='flow', scopes=['orders:write', 'orders:read'])[1])",
        )
        .strip()
        .splitlines()[-1]
    )

    demo = subprocess.Popen(
        [sys.executable, "manage.py", "run_demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    threading.Thread(target=_pump, args=(demo.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not any("Press Ctrl-C" in line for line in output):
            assert time.monotonic() < deadline, "".join(output[-40:])
            try:
                output.append(lines.get(timeout=1))
            except queue.Empty:
                assert demo.poll() is None, "".join(output[-40:])

        response = requests.post(
            f"http://127.0.0.1:{port}/api/v1/orders/",
            json=ORDER,
            headers={"Authorization": f"Api-Key {raw_key}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        number = response.json()["number"]

        state: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = _state(env, number)
            if _settled(state):
                break
            time.sleep(1)
        while True:
            try:
                output.append(lines.get_nowait())
            except queue.Empty:
                break
        assert _settled(state), json.dumps(state, indent=1) + "".join(output[-30:])
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)

    # The same final state as the in-process test.
    assert state["payment"] == "succeeded"
    assert state["shipment"] == "delivered"
    assert state["tracking"].startswith("SB")
    for step in ALWAYS_NOTIFIED:
        assert {c for t, c, _ in state["notifications"] if t == step} == {"whatsapp"}
    # Reordered tracking facts older than one already applied are dropped by the watermark, so
    # only steps the customer could still care about are announced; never one twice.
    sent = [(t, c) for t, c, _ in state["notifications"]]
    assert len(sent) == len(set(sent))
    assert {t for t, _ in sent} <= NOTIFIED_STEPS
    # Chaos really happened: some deliveries were duplicates the inbox absorbed.
    log = "".join(output)
    assert '"outcome": "duplicate"' in log or state["webhooks"] < log.count("sandbox.webhook_sent")
