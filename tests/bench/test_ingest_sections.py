"""``bench/ingest_sections.py`` (issue 16 item 8's diagnostic) runs, and each variant does what it
says: the receiver as it stands stores arrivals, ``inbox-row`` inbox rows, ``no-insert`` nothing,
and every section it reports was measured."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.config.test_scaled_profile import DATABASE_URL, POSTGRES_SCHEMES
from tests.support.processes import ROOT

REQUESTS = 40
ROUNDS = 2
WARM = 300  # the script's warm-up batch per endpoint and variant


@pytest.mark.slow
@pytest.mark.skipif(
    DATABASE_URL.split(":", 1)[0] in POSTGRES_SCHEMES,
    reason="a diagnostic of the embedded profile: it measures on a scratch SQLite file",
)
def test_sections_script_measures_each_variant_on_its_own_table() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest_sections",
            "--requests",
            str(REQUESTS),
            "--rounds",
            str(ROUNDS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    counts = re.findall(r"(as-is|inbox-row|no-insert) (\d+)", out.split("rows stored:")[1])
    stored = {name: int(count) for name, count in counts}
    per_variant = WARM + REQUESTS * ROUNDS
    assert stored == {"as-is": per_variant, "inbox-row": per_variant, "no-insert": per_variant}
    moved = re.search(r"moved (\d+) arrivals into the inbox: (\d+) µs each", out)
    assert moved is not None and int(moved.group(1)) == per_variant and int(moved.group(2)) > 0
    rows = {
        cells[0]: [float(c) for c in cells[1:6]]
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith("| variant")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert set(rows) == {"as-is", "no-insert", "inbox-row"}
    for variant, (bare, inbox, _difference, ratio, view) in rows.items():
        assert bare > 0 and inbox > 0 and view > 0, variant
        assert 0 < ratio < 2, variant
    # The sixth column is the insert: measured for the real statement, none for the counter.
    assert re.search(r"\| as-is \|(?: [-\d.]+ \|){5} [1-9]", out), "as-is measured no insert"
    assert re.search(r"\| inbox-row \|(?: [-\d.]+ \|){5} [1-9]", out), "inbox-row: no insert"
    assert re.search(r"\| no-insert \|(?: [-\d.]+ \|){5} 0 \|", out), "no-insert still inserted"
