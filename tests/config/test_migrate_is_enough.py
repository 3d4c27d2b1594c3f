"""`manage.py migrate` alone readies a fresh database: the periodic jobs are registered and the
embedded profile's cache table exists, so the API (throttled through the cache) answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.schedules import SCHEDULES

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.core.cache import cache
from django.db import connection
from django_q.models import Schedule
cache.set("probe", 42)
print(json.dumps({
    "schedules": {s.name: [s.func, s.cluster, s.minutes] for s in Schedule.objects.all()},
    "cache_table": "switchboard_cache" in connection.introspection.table_names(),
    "cache_works": cache.get("probe") == 42,
}))
"""


def _manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout


@pytest.mark.slow
def test_migrate_alone_registers_every_periodic_job_and_the_cache_table(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "REDIS_URL": "",
    }
    _manage(env, "migrate", "--no-input")
    _manage(env, "migrate", "--no-input")  # idempotent: a second run changes nothing

    state = json.loads(_manage(env, "shell", "-c", PROBE).strip().splitlines()[-1])

    assert state["cache_table"] is True
    assert state["cache_works"] is True
    assert set(state["schedules"]) == {job.name for job in SCHEDULES}
    assert state["schedules"]["webhooks-sweep"] == [
        "integrations.webhooks.tasks.sweep",
        "switchboard-sweepers",
        1,
    ]
    assert state["schedules"]["webhooks-prune"][1] == "switchboard"
