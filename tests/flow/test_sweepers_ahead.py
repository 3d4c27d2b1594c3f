"""The sweepers run ahead of a backlog: their own cluster takes them from their own queue.

The main queue here holds 200 tasks nobody is taking (the worst backlog: its cluster is down or
swamped). The sweeper cluster still runs its whole schedule, registered by ``migrate`` alone, within
a minute or so: its heartbeat and the four sweepers (webhooks, deliveries, the sandbox's sends, outbound
webhooks).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import ROOT, manage, scratch_sqlite_env, stop

BACKLOG = 200
SETUP = f"""
from django_q.tasks import async_task
for n in range({BACKLOG}):
    async_task("time.sleep", 10, task_name=f"backlog-{{n}}")
"""
STATE = """
import json
from django_q.brokers import get_broker
from django_q.models import Success
from integrations.models import TaskHeartbeat
print(json.dumps({
    "main_queue": get_broker("switchboard").queue_size(),
    "sweeper_beat": TaskHeartbeat.objects.filter(cluster="switchboard-sweepers").exists(),
    "sweeps": sorted(set(Success.objects.filter(func__endswith=".sweep").values_list("func", flat=True))),
}))
"""


@pytest.mark.slow
def test_the_sweeper_cluster_runs_its_schedule_behind_a_stuck_main_queue(tmp_path: Path) -> None:
    env = scratch_sqlite_env(tmp_path / "backlog.sqlite3")
    manage(env, "migrate", "--no-input")
    manage(env, "shell", "-c", SETUP)
    sweepers = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**env, "Q_CLUSTER_NAME": "switchboard-sweepers"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = json.loads(manage(env, "shell", "-c", STATE).strip().splitlines()[-1])
            if state["sweeper_beat"] and len(state["sweeps"]) == 4:  # type: ignore[arg-type]
                break
            assert sweepers.poll() is None
            time.sleep(1)
    finally:
        stop(sweepers)

    assert state["sweeper_beat"] is True
    assert state["sweeps"] == [
        "integrations.deliveries.tasks.sweep",
        "integrations.sandbox.sweep",
        "integrations.webhooks.tasks.sweep",
        "integrations.webhooks_out.tasks.sweep",
    ]
    assert state["main_queue"] == BACKLOG  # the backlog is untouched, and did not hold them up
