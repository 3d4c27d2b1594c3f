"""``manage.py audit_dependencies``: pip-audit over the lock, a gate of ``make test``.

Audits every pin of ``requirements/dev.txt`` (which holds the runtime lock too) against the OSV
vulnerability database, without installing anything (the pins and their hashes are the whole
input). Fails on a known vulnerability unless ``requirements/audit-ignore.txt`` ignores it with a
reason. Where the vulnerability data cannot be reached (no network, a proxy that does not pass
it), a short probe finds out first and the command prints one line saying the audit was skipped,
and succeeds. A development tool: pip-audit is a dev dependency, and its calls are not provider
calls (no ledger, no breaker). See docs/security.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

IGNORE_LINE = re.compile(r"^(?P<id>[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]+)\s*#\s*(?P<reason>\S.*)$")
# A release with published advisories: the probe expects the database to name some.
PROBE_PACKAGE = {"package": {"name": "django", "ecosystem": "PyPI"}, "version": "3.2"}


def read_ignores(path: Path) -> dict[str, str]:
    """Advisory id -> reason, from ``ID  # reason`` lines (blank and ``#`` lines skipped).
    An entry without a reason is refused."""
    ignores: dict[str, str] = {}
    if not path.exists():
        return ignores
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = IGNORE_LINE.match(line)
        if not match:
            raise CommandError(
                f"{path.name}:{number}: expected 'ADVISORY-ID  # why it does not apply', "
                f"got {line!r}"
            )
        ignores[match["id"]] = match["reason"].strip()
    return ignores


def default_osv_url() -> str:
    try:
        from pip_audit._service.osv import OsvService
    except ImportError as exc:
        raise CommandError(
            "pip-audit is not installed (pip install -r requirements/dev.txt)"
        ) from exc
    return str(OsvService.DEFAULT_OSV_URL)


def probe(url: str, timeout: float) -> str:
    """Why the vulnerability data cannot be used, or "" when it answers as it should."""
    try:
        response = requests.post(url, json=PROBE_PACKAGE, timeout=timeout)
    except requests.RequestException as exc:
        return type(exc).__name__
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        answer = response.json()
    except ValueError:
        return "an answer that is not JSON"
    if not isinstance(answer, dict) or not answer.get("vulns"):
        return "an answer without the advisories it must have"
    return ""


class Command(BaseCommand):
    help = "Audit the dependency lock for known vulnerabilities (pip-audit against OSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        requirements = Path(settings.BASE_DIR) / "requirements"
        parser.add_argument("--requirement", default=str(requirements / "dev.txt"))
        parser.add_argument("--ignore-file", default=str(requirements / "audit-ignore.txt"))
        parser.add_argument("--osv-url", default="", help="OSV query API (default: pip-audit's)")
        parser.add_argument("--timeout", type=float, default=15.0)
        parser.add_argument("--probe-timeout", type=float, default=5.0)

    def handle(self, *args: Any, **options: Any) -> None:
        lock = Path(options["requirement"])
        ignores = read_ignores(Path(options["ignore_file"]))
        url = options["osv_url"] or default_osv_url()
        unreachable = probe(url, options["probe_timeout"])
        if unreachable:
            self.stdout.write(
                f"pip-audit: SKIPPED, the vulnerability data (OSV) is not reachable "
                f"({unreachable}); {lock.name} was not audited"
            )
            return
        report = self._audit(lock, url, ignores, options["timeout"])
        found = [
            (dep["name"], dep["version"], vuln)
            for dep in report.get("dependencies", [])
            for vuln in dep.get("vulns", [])
        ]
        if found:
            for name, version, vuln in found:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
                self.stderr.write(f"{name}=={version}: {vuln['id']} (fixed in: {fixes})")
            raise CommandError(
                f"pip-audit: {len(found)} known vulnerabilities in {lock.name}; upgrade, or "
                "ignore one with its reason in requirements/audit-ignore.txt"
            )
        audited = [d for d in report.get("dependencies", []) if "skip_reason" not in d]
        skipped = [d["name"] for d in report.get("dependencies", []) if "skip_reason" in d]
        line = f"pip-audit: {len(audited)} pinned packages in {lock.name}, no known vulnerability"
        if ignores:
            line += f" ({len(ignores)} ignored with a reason: {', '.join(sorted(ignores))})"
        if skipped:
            line += f"; not audited: {', '.join(skipped)}"
        self.stdout.write(line)

    def _audit(
        self, lock: Path, url: str, ignores: dict[str, str], timeout: float
    ) -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as work:
            output = Path(work) / "audit.json"
            command = [
                sys.executable,
                "-m",
                "pip_audit",
                "--requirement",
                str(lock),
                "--require-hashes",
                "--disable-pip",
                "--vulnerability-service",
                "osv",
                "--osv-url",
                url,
                "--timeout",
                str(int(max(timeout, 1))),
                "--cache-dir",
                str(Path(work) / "cache"),
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                str(output),
            ]
            for advisory in sorted(ignores):
                command += ["--ignore-vuln", advisory]
            result = subprocess.run(  # noqa: S603  # nosec B603  # our own argv, no shell
                command, capture_output=True, text=True, check=False, timeout=600
            )
            if not output.exists():
                raise CommandError(
                    f"pip-audit failed ({result.returncode}): {result.stderr[-2000:]}"
                )
            report: dict[str, Any] = json.loads(output.read_text())
        return report
