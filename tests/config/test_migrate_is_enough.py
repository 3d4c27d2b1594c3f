"""`manage.py migrate` alone readies a fresh database: the periodic jobs are registered and the
embedded profile's cache table exists, so the API (throttled through the cache) answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations.schedules import SCHEDULES
from tests.support.processes import manage, scratch_sqlite_env

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


@pytest.mark.slow
def test_migrate_alone_registers_every_periodic_job_and_the_cache_table(tmp_path: Path) -> None:
    env = scratch_sqlite_env(tmp_path / "fresh.sqlite3")
    manage(env, "migrate", "--no-input")
    manage(env, "migrate", "--no-input")  # idempotent: a second run changes nothing

    state = json.loads(manage(env, "shell", "-c", PROBE).strip().splitlines()[-1])

    assert state["cache_table"] is True
    assert state["cache_works"] is True
    assert set(state["schedules"]) == {job.name for job in SCHEDULES}
    assert state["schedules"]["webhooks-sweep"] == [
        "integrations.webhooks.tasks.sweep",
        "switchboard-sweepers",
        1,
    ]
    assert state["schedules"]["webhooks-prune"][1] == "switchboard"
