"""Schemathesis against the published OpenAPI schema (``/api/schema/``), in process through
Django's WSGI application, with an API key that holds every scope: whatever it sends, valid or not,
the API never answers 5xx, and its answers match the schema (status codes, content types, bodies,
headers), and what the schema forbids is refused. Bounded so CI stays fast (docs/fuzzing.md
says how to run it longer).

Not checked: that every schema-valid request is accepted (schemathesis' positive data acceptance).
The API refuses some by rules JSON Schema does not say: either ``lines`` or ``volumes`` in a
quote, a postal code of 3-10 letters and digits once punctuation is dropped, printable event ids,
an order with something to pay. Those refusals are 400 problem documents, which the schema
declares. Nor, for the usage batch, that what breaks the schema is refused: by design only the
batch's shape and the events' ids are refused (400); an event with a missing or mistyped field is
taken and quarantined with its reason (202), for staff to release (docs/usage.md).

Each operation is driven by the operation's own Hypothesis strategy (``as_strategy``) rather than
``schemathesis.pytest.from_fixture``: the installed schemathesis' lazy fixture reads a private
attribute that pytest 9 no longer has."""

from __future__ import annotations

import os
from collections.abc import Iterator
from time import monotonic
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from accounts.access.api_keys import api_key_create
from accounts.models import ApiKey
from tests.factories import make_order

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_API_EXAMPLES", "20"))
"""Examples per operation and mode; FUZZ_API_EXAMPLES=500 for a longer run (docs/fuzzing.md)."""
BUDGET_SECONDS = float(os.environ.get("FUZZ_API_BUDGET_SECONDS", "60"))
"""Wall time for all the operations together: past it, the remaining examples are not sent."""
_started: list[float] = []

OPERATIONS = [
    ("GET", "/api/v1/customers/{id}/context/"),
    ("GET", "/api/v1/orders/"),
    ("POST", "/api/v1/orders/"),
    ("GET", "/api/v1/orders/{number}/"),
    ("POST", "/api/v1/shipping/quotes/"),
    ("POST", "/api/v1/shipping/quotes/{id}/choose/"),
    ("POST", "/api/v1/usage/"),
]


@pytest.fixture
def api_key(settings: Any) -> str:
    settings.API_KEY_RATE = "1000000/min"  # the fuzzer is one client: 429s would hide the API
    cache.clear()
    make_order()  # something to list, and an order number the fuzzer may hit
    _, raw = api_key_create(name="fuzzer", scopes=list(ApiKey.Scope.values))
    return raw


@pytest.fixture
def api_schema(api_key: str) -> Iterator[Any]:
    # As Django's test client: the request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_of_the_schema_is_fuzzed(api_schema: Any) -> None:
    published = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert published == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_never_answers_5xx_and_matches_its_schema(
    api_schema: Any, api_key: str, method: str, path: str, mode: GenerationMode
) -> None:
    _started[:] = _started or [monotonic()]
    operation = api_schema[path][method]
    headers = {"Authorization": f"Api-Key {api_key}"}
    excluded = [positive_data_acceptance]
    if (method, path) == ("POST", "/api/v1/usage/"):
        excluded.append(negative_data_rejection)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking in CI: the failure shows its case
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case: Any) -> None:
        if monotonic() - _started[0] > BUDGET_SECONDS:
            return
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    call()
