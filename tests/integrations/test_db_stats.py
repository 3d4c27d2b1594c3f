"""``migrate`` refreshes SQLite's planner statistics, so an index a migration just added is not
preferred blindly over the one a changelist was built for (integrations/db_stats.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.db_stats import tables_to_analyze

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    "postgres" in os.environ.get("DATABASE_URL", ""), reason="PostgreSQL analyzes by itself"
)
def test_migrate_ends_with_statistics_for_the_tables_that_have_rows(tmp_path: Path) -> None:
    database = tmp_path / "stats.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    with sqlite3.connect(database) as db:
        analyzed = {row[0] for row in db.execute("SELECT tbl FROM sqlite_stat1")}
        # Tables migrate filled (permissions, content types) have statistics ...
        assert {"auth_permission", "django_content_type"} <= analyzed
        # ... and an index added later is found, with its table, for the next migrate.
        assert "auth_permission" not in tables_to_analyze(db.cursor())
        db.execute('CREATE INDEX "probe_permission_name" ON "auth_permission" ("name")')
        assert "auth_permission" in tables_to_analyze(db.cursor())
