"""Fixtures: the ``test-provider`` endpoint, delivering through the real view, log capture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from integrations.webhooks.registry import register_webhook_endpoint, unregister_webhook_endpoint
from integrations.webhooks.standard import StandardWebhooksEndpoint
from tests.integrations.webhooks.support import PREVIOUS_SECRET, PROVIDER, URL, Handlers


@pytest.fixture(autouse=True)
def fresh_rejection_tally() -> Iterator[None]:
    """Each test starts with no refusals counted in this process (the per-source limit and the
    counts not yet written live in memory, not in the rolled-back database)."""
    from integrations.webhooks import inbox

    inbox._tally.reset()
    yield
    inbox._tally.reset()


@pytest.fixture
def handlers(settings: Any) -> Iterator[Handlers]:
    """Registers ``test-provider`` (current and previous sandbox secrets valid) for one test."""
    settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS = PREVIOUS_SECRET
    found = Handlers()
    endpoint = StandardWebhooksEndpoint(
        name=PROVIDER,
        secrets=lambda: [
            django_settings.SANDBOX_WEBHOOK_SECRET,
            django_settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS,
        ],
        handlers={
            "customer.linked": found.link_customer,
            "order.paid": found.mark_paid,
            "test.explode": found.explode,
            "test.flaky": found.flaky,
        },
    )
    register_webhook_endpoint(endpoint)
    yield found
    unregister_webhook_endpoint(PROVIDER)


Deliver = Callable[..., Any]


@pytest.fixture
def deliver(client: Any, django_capture_on_commit_callbacks: Any) -> Deliver:
    """POST a delivery through the real view; after-commit work (processing) runs, as in prod."""

    def post(body: bytes, headers: dict[str, str], *, path: str = URL, **extra: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                path, data=body, content_type="application/json", headers=headers, **extra
            )

    return post


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task broker refuses every enqueue (the inbox row must still be the record of work)."""
    import django_q.tasks

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(django_q.tasks, "async_task", refuse)


@pytest.fixture
def broker_idle(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The broker accepts every enqueue but no worker runs yet: stored events stay received."""
    import django_q.tasks

    enqueued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *args, **kw: enqueued.append(args))
    return enqueued
