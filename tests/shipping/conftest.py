from __future__ import annotations

import pytest

from accounts.models import Customer
from orders.models import Order
from tests.factories import make_paid_payment
from tests.support.shipping import EmitRecorder


@pytest.fixture
def emitted(db: None, monkeypatch: pytest.MonkeyPatch) -> EmitRecorder:
    """What the sandbox carrier asks ``sandbox_emit`` to send. Needs the test transaction: the
    real ``sandbox_emit`` schedules the deliveries on commit, which then never comes."""
    recorder = EmitRecorder()
    monkeypatch.setattr("shipping.carriers.sandbox.adapter.sandbox_emit", recorder)
    return recorder


@pytest.fixture
def paid_order(customer: Customer) -> Order:
    return make_paid_payment(customer=customer).order
