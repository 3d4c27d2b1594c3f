from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django_q.conf import Conf

from accounts.models import Customer, User
from config.settings.logging import logging_config
from tests.browser import (
    INSTALL_HINT,
    SCREENSHOTS_DIR,
    browser_tests_required,
    chromium_available,
)
from tests.factories import make_customer, make_staff


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line about the browser tests: where their screenshots are, or, if Chromium is
    missing, that they were skipped and how to install it."""
    browser_dir = Path(__file__).parent / "browser"
    in_scope = any(
        browser_dir.is_relative_to(arg) or Path(arg).is_relative_to(browser_dir)
        for arg in (
            Path(a.split("::")[0]).resolve() for a in terminalreporter.config.args or ["tests"]
        )
    )
    if not in_scope:
        return
    if not chromium_available() and not browser_tests_required():
        terminalreporter.write_line(INSTALL_HINT)
    else:
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS_DIR}/<test>/NN-step.png")


@pytest.fixture(scope="session", autouse=True)
def _inbox_gate_files_removed() -> Iterator[None]:
    """The inbox's SQLite write gate leaves a lock file beside each database file it guarded (the
    test database's name carries the process id): removed at the end of the session."""
    yield
    from integrations.webhooks import inbox

    for database in list(inbox._gate_files):
        Path(f"{database}-inbox-gate").unlink(missing_ok=True)


@pytest.fixture
def customer(db: None) -> Customer:
    return make_customer(name="Ana Souza", email="ana@example.test", phone="+5511987654321")


@pytest.fixture
def support_user(db: None) -> User:
    return make_staff("support", role="support")


@pytest.fixture
def finance_user(db: None) -> User:
    return make_staff("finance", role="finance")


@pytest.fixture
def other_finance_user(db: None) -> User:
    return make_staff("finance2", role="finance")


@pytest.fixture
def admin_user(db: None) -> User:
    return make_staff("admin", is_superuser=True)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Log lines as production renders them."""
    formatter_spec = logging_config()["formatters"]["json"]
    factory = formatter_spec.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(factory(**formatter_spec))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def broken_broker() -> Iterator[pytest.MonkeyPatch]:
    """django-q2 as in production (not synchronous), its Redis broker on a loopback port nobody
    listens on: ``async_task`` fails the way it does when the broker is down. ``.undo()`` on the
    returned patch brings the broker back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.MonkeyPatch.context() as patch:
        for name in ("BROKER_CLASS", "IRON_MQ", "SQS", "ORM", "MONGO", "DJANGO_REDIS"):
            patch.setattr(Conf, name, None)
        patch.setattr(Conf, "SYNC", False)
        patch.setattr(Conf, "REDIS", f"redis://127.0.0.1:{port}/0")
        yield patch


@pytest.fixture(autouse=True)
def _journal_emptied_after_transactional_tests(
    request: pytest.FixtureRequest, django_db_blocker: Any
) -> Iterator[None]:
    """After a transactional test, the journal's rows are deleted before Django empties the
    database: its triggers refuse the ``DELETE FROM`` Django uses on SQLite for posted entries
    and closed periods (tests/support/journal.py)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None
        and bool(marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    if not transactional:
        yield
        return
    if "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")  # set up first, so emptied after this
    yield
    from tests.support.journal import journal_wipe

    with django_db_blocker.unblock():
        journal_wipe()
