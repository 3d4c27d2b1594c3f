from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator

import pytest
from django_q.conf import Conf

from accounts.models import Customer, User
from config.settings.logging import logging_config
from tests.factories import make_customer, make_staff


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
