"""``manage.py audit_dependencies`` (issue 16 item 3): pip-audit over the lock in ``make test``,
against a fake OSV on loopback; one skip line where the vulnerability data is not reachable."""

from __future__ import annotations

import io
import re
import socket
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.support.fake_osv import advisory, serve_fake_osv

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "dev.txt"
FAKE_HASH = "--hash=sha256:" + "0" * 64


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _lock(tmp_path: Path, *pins: str) -> Path:
    path = tmp_path / "lock.txt"
    path.write_text("".join(f"{pin} \\\n    {FAKE_HASH}\n" for pin in pins))
    return path


def _audit(**options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("audit_dependencies", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/query"


def test_unreachable_data_is_one_skip_line(tmp_path):
    out, err = _audit(osv_url=_closed_port_url(), ignore_file=str(tmp_path / "none.txt"))
    assert out.splitlines() == [
        "pip-audit: SKIPPED, the vulnerability data (OSV) is not reachable (ConnectionError); "
        "dev.txt was not audited"
    ]
    assert err == ""


def test_a_service_that_knows_no_advisory_counts_as_unreachable(tmp_path):
    # What a proxy that answers for everything, or an empty mirror, looks like.
    with serve_fake_osv(with_probe_advisory=False) as osv:
        out, _ = _audit(osv_url=osv.url, requirement=str(_lock(tmp_path, "idna==3.10")))
    assert "SKIPPED" in out
    assert "an answer without the advisories it must have" in out
    assert osv.queries == [("django", "3.2")]  # the probe only: nothing was audited


def test_a_known_vulnerability_in_the_lock_fails(tmp_path):
    lock = _lock(tmp_path, "idna==3.10", "Jinja2==3.1.2")
    with serve_fake_osv() as osv:
        osv.add("jinja2", "3.1.2", advisory("GHSA-h5c8-rqwp-cp95", "jinja2", "3.1.3"))
        with pytest.raises(CommandError, match=r"1 known vulnerabilities in lock\.txt"):
            _audit(osv_url=osv.url, requirement=str(lock), ignore_file=str(tmp_path / "x"))
    assert ("idna", "3.10") in osv.queries
    assert ("jinja2", "3.1.2") in osv.queries


def test_the_failure_names_package_advisory_and_fix(tmp_path):
    lock = _lock(tmp_path, "Jinja2==3.1.2")
    err = io.StringIO()
    with serve_fake_osv() as osv:
        osv.add("jinja2", "3.1.2", advisory("GHSA-h5c8-rqwp-cp95", "jinja2", "3.1.3"))
        with pytest.raises(CommandError):
            call_command(
                "audit_dependencies",
                osv_url=osv.url,
                requirement=str(lock),
                ignore_file=str(tmp_path / "x"),
                stdout=io.StringIO(),
                stderr=err,
            )
    assert "jinja2==3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in: 3.1.3)" in err.getvalue()


def test_an_advisory_ignored_with_a_reason_passes(tmp_path):
    lock = _lock(tmp_path, "Jinja2==3.1.2")
    ignore = tmp_path / "audit-ignore.txt"
    ignore.write_text(
        "# reviewed\n\nGHSA-h5c8-rqwp-cp95  # we render no untrusted templates with xmlattr\n"
    )
    with serve_fake_osv() as osv:
        osv.add("jinja2", "3.1.2", advisory("GHSA-h5c8-rqwp-cp95", "jinja2", "3.1.3"))
        out, _ = _audit(osv_url=osv.url, requirement=str(lock), ignore_file=str(ignore))
    assert out.strip() == (
        "pip-audit: 1 pinned packages in lock.txt, no known vulnerability "
        "(1 ignored with a reason: GHSA-h5c8-rqwp-cp95)"
    )


@pytest.mark.parametrize(
    "line", ["GHSA-h5c8-rqwp-cp95", "GHSA-h5c8-rqwp-cp95  #", "GHSA-h5c8-rqwp-cp95 because"]
)
def test_an_ignore_without_a_reason_is_refused(tmp_path, line):
    ignore = tmp_path / "audit-ignore.txt"
    ignore.write_text(line + "\n")
    with pytest.raises(CommandError, match=r"audit-ignore.txt:1: expected"):
        _audit(osv_url=_closed_port_url(), ignore_file=str(ignore))


def test_the_real_lock_is_audited_pin_by_pin(tmp_path):
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\", LOCK.read_text(), re.M)
    assert len(pins) > 100
    with serve_fake_osv() as osv:
        out, _ = _audit(osv_url=osv.url)
    assert f"pip-audit: {len(pins)} pinned packages in dev.txt, no known vulnerability" in out
    assert set(osv.queries) >= {(name.lower().replace("_", "-"), v) for name, v in pins}


def test_the_documented_ignore_file_is_valid():
    from config.management.commands.audit_dependencies import read_ignores

    path = ROOT / "requirements" / "audit-ignore.txt"
    assert path.is_file()
    assert all(reason for reason in read_ignores(path).values())
