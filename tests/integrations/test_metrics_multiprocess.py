"""Request latencies across processes: with PROMETHEUS_MULTIPROC_DIR set, what two worker
processes observed is read, summed, by a third (the one answering the scrape or the ops page).
Real processes, since prometheus_client picks its storage when the module is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import django
django.setup()
from django.test import Client
client = Client()
for _ in range({requests}):
    assert client.get("/no/such/page/").status_code == 404
"""

READER = """
import json
import django
django.setup()
from prometheus_client.multiprocess import MultiProcessCollector
from integrations.metrics import metrics_registry
from integrations.ops_admin import request_latencies
registry = metrics_registry()
print(json.dumps({
    "multiprocess": any(isinstance(c, MultiProcessCollector) for c in registry._collector_to_names),
    "latencies": [[item.view, item.requests] for item in request_latencies()],
}))
"""


def _run(code: str, directory: Path) -> str:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_workers_requests_are_summed_by_a_third_process(tmp_path: Path) -> None:
    _run(WORKER.format(requests=2), tmp_path)
    _run(WORKER.format(requests=3), tmp_path)
    assert len(list(tmp_path.glob("histogram_*.db"))) == 2  # one file per worker process

    result = json.loads(_run(READER, tmp_path).strip().splitlines()[-1])
    assert result["multiprocess"] is True
    assert result["latencies"] == [["<unresolved>", 5]]


def test_without_the_directory_a_process_sees_only_its_own(tmp_path: Path) -> None:
    env_free = READER.replace(
        "import json", "import json, os; os.environ.pop('PROMETHEUS_MULTIPROC_DIR')", 1
    )
    _run(WORKER.format(requests=2), tmp_path)
    result = json.loads(_run(env_free, tmp_path).strip().splitlines()[-1])
    assert result["multiprocess"] is False
    assert result["latencies"] == []
