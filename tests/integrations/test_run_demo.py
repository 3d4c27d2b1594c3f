"""`manage.py run_demo` end to end: real gunicorn and task cluster on a throwaway SQLite file."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
ROLES = ("support", "sales", "finance", "ops", "admin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_run_demo_serves_runs_tasks_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    env["REDIS_URL"] = ""  # empty, not absent: a developer's .env cannot fill it in
    _manage(env, "migrate", "--no-input")

    port = _free_port()
    admin_url = f"http://127.0.0.1:{port}/admin/"
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "run_demo", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    threading.Thread(target=_pump, args=(demo.stdout, lines), daemon=True).start()
    output: list[str] = []
    child_pids: dict[str, int] = {}

    def read_until(predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (demo.poll() is not None and lines.empty()):
                pytest.fail("run_demo output so far:\n" + "".join(output))
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            output.append(line)
            if match := re.fullmatch(r"(web|tasks|sweepers) pid (\d+)\n", line):
                child_pids[match[1]] = int(match[2])

    try:
        read_until(lambda: any(admin_url in line for line in output), timeout=60)
        read_until(lambda: any("Press Ctrl-C to stop." in line for line in output), timeout=5)
        assert set(child_pids) == {"web", "tasks", "sweepers"}
        banner = "".join(output)
        for role in ROLES:
            assert re.search(rf"^\s+{role}\s+/ \S+$", banner, re.MULTILINE), role
        assert f"http://127.0.0.1:{port}/health/" in banner

        report = _health(port)
        assert report["database"]["ok"] is True

        _manage(
            env,
            "shell",
            "-c",
            "from django_q.tasks import async_task; async_task('integrations.tasks.heartbeat')",
        )
        deadline = time.monotonic() + 30
        while not _health(port)["task_cluster"]["ok"]:
            assert time.monotonic() < deadline, "the task cluster never ran the heartbeat"
            time.sleep(0.5)
        # The sweeper cluster runs its own schedule, which `migrate` alone registered.
        deadline = time.monotonic() + 75
        while not _health(port)["sweeper_cluster"]["ok"]:
            assert time.monotonic() < deadline, "the sweeper cluster never ran its heartbeat"
            time.sleep(1)

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=20) == 0
        read_until(lambda: any(line.strip() == "Stopped." for line in output), timeout=5)
        assert "Traceback" not in "".join(output)
        for name, pid in child_pids.items():
            assert _gone(pid), f"{name} process {pid} still running"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
            for pid in child_pids.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
