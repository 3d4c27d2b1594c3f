"""A fake OSV vulnerability database on loopback: ``POST /v1/query``, the call pip-audit makes.

As OSV documents it: the body is ``{"package": {"name", "ecosystem"}, "version"}``; a body that
is not JSON, lacks the package name or the version, or names an ecosystem OSV does not know is
refused with 400 ``{"code": 3, "message": "Invalid query."}``. The answer is ``{}`` for a version
with no advisory, else ``{"vulns": [...]}`` in OSV's schema (id, summary, aliases, affected with
ECOSYSTEM ranges). Names are compared normalised (PEP 503), as OSV does for PyPI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import Seen, json_api_handler, serve_on_loopback

ECOSYSTEMS = {"PyPI", "npm", "Go", "Maven", "crates.io", "RubyGems", "NuGet", "Packagist"}
INVALID = {"code": 3, "message": "Invalid query."}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def advisory(ident: str, package: str, fixed: str, summary: str = "") -> dict[str, Any]:
    """One OSV record for ``package`` affected from 0 until ``fixed``."""
    return {
        "schema_version": "1.6.0",
        "id": ident,
        "summary": summary or f"A vulnerability in {package}",
        "aliases": [],
        "affected": [
            {
                "package": {"name": normalise(package), "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
    }


@dataclass
class FakeOsv:
    url: str = ""
    advisories: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """(normalised name, version) -> the OSV records that affect it."""
    queries: list[tuple[str, str]] = field(default_factory=list)

    def add(self, package: str, version: str, record: dict[str, Any]) -> None:
        self.advisories.setdefault((normalise(package), version), []).append(record)

    def respond(self, seen: Seen) -> tuple[int, Any, float]:
        if seen.method != "POST" or seen.path != "/v1/query":
            return 404, {"code": 5, "message": "Not Found"}, 0
        try:
            body = json.loads(seen.raw)
        except ValueError:
            return 400, INVALID, 0
        package = body.get("package") if isinstance(body, dict) else None
        version = body.get("version") if isinstance(body, dict) else None
        if (
            not isinstance(package, dict)
            or not isinstance(package.get("name"), str)
            or package.get("ecosystem") not in ECOSYSTEMS
            or not isinstance(version, str)
            or not version
        ):
            return 400, INVALID, 0
        key = (normalise(package["name"]), version)
        self.queries.append(key)
        records = self.advisories.get(key, [])
        return 200, ({"vulns": records} if records else {}), 0


@contextmanager
def serve_fake_osv(*, with_probe_advisory: bool = True) -> Iterator[FakeOsv]:
    """A FakeOsv on 127.0.0.1; its ``url`` is the query endpoint. ``with_probe_advisory`` gives
    django 3.2 the advisory real OSV has for it (what the audit's reachability probe expects)."""
    fake = FakeOsv()
    if with_probe_advisory:
        fake.add("django", "3.2", advisory("GHSA-xxxx-probe-0001", "django", "3.2.1"))
    with serve_on_loopback(json_api_handler(fake.respond)) as base:
        fake.url = f"{base}/v1/query"
        yield fake
