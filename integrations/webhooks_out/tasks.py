"""Thin task entry points for outbound webhooks; the work is in ``relay`` and ``services``."""

from __future__ import annotations

import time

from django.conf import settings

from integrations.webhooks_out.relay import messages_due, messages_send_due, next_due_in
from integrations.webhooks_out.services import drain_asleep, drain_wake

POLL_SECONDS = 0.05


def drain() -> int:
    """Send due messages until none is due within WEBHOOKS_OUT_DRAIN_LINGER_SECONDS (so the 5 s
    retry is made on time), at most WEBHOOKS_OUT_DRAIN_MAX_SECONDS; then let the next message
    wake a new drain. Returns how many messages were sent."""
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < settings.WEBHOOKS_OUT_DRAIN_MAX_SECONDS:
        ran = messages_send_due()
        sent += ran
        if ran:
            continue
        wait = next_due_in()
        if wait is None or wait > settings.WEBHOOKS_OUT_DRAIN_LINGER_SECONDS:
            break
        time.sleep(min(max(wait, POLL_SECONDS), 1.0))
    drain_asleep()
    sent += messages_send_due()  # what was written while the wake key was still held
    wait = next_due_in()
    if wait is not None and wait <= settings.WEBHOOKS_OUT_DRAIN_LINGER_SECONDS:
        drain_wake()
    return sent


def sweep() -> int:
    """Every minute: wake a drain when a message is due (a retry whose time came, or work a
    lost task or a killed worker left behind)."""
    if messages_due(limit=1):
        drain_asleep()
        drain_wake()
        return 1
    return 0
