"""Running ``manage.py`` and the task clusters as real processes from tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """Run ``manage.py <args>`` in ``env``; its standard output. Raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    ).stdout


def scratch_sqlite_env(path: Path, **extra: str) -> dict[str, str]:
    """The local settings on a throwaway SQLite file, the embedded profile."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{path}",
        "REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
        # No quiet hours: what a run sends must not depend on the hour it runs at.
        "NOTIFICATION_QUIET_HOURS": "",
        **extra,
    }


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGTERM the process's group (started with ``start_new_session``), SIGKILL if it lingers."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
