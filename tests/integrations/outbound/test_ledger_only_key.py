"""A provider without idempotency keys (Z-API): ``idempotency_header=None`` keeps the key in the
ledger only, sends no header, and never replays a send that may have been applied."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.exceptions import ProviderUnavailable
from integrations.models import ProviderCall
from tests.integrations.outbound.conftest import FakeProvider, Reply

pytestmark = pytest.mark.django_db


def test_the_key_is_recorded_but_not_sent(fake_provider: FakeProvider, make_client: Any) -> None:
    fake_provider.script("/send", 200)

    make_client().request(
        "send", "POST", "send", json={}, idempotency_key="notification:7", idempotency_header=None
    )

    (seen,) = fake_provider.requests_to("/send")
    assert "idempotency-key" not in seen.headers
    assert ProviderCall.objects.get().idempotency_key == "notification:7"


@pytest.mark.parametrize("reply", [Reply(status=503), Reply(delay=1.5)])
def test_a_send_that_may_have_been_applied_is_not_replayed(
    fake_provider: FakeProvider, make_client: Any, reply: Reply
) -> None:
    fake_provider.script("/send", reply, 200)

    with pytest.raises(ProviderUnavailable, match="may have been applied"):
        make_client().request(
            "send", "POST", "send", json={}, idempotency_key="k1", idempotency_header=None
        )

    assert len(fake_provider.requests_to("/send")) == 1


def test_with_a_header_the_same_failure_is_replayed(
    fake_provider: FakeProvider, make_client: Any
) -> None:
    fake_provider.script("/send", 503, 200)

    make_client().request("send", "POST", "send", json={}, idempotency_key="k2")

    assert len(fake_provider.requests_to("/send")) == 2
