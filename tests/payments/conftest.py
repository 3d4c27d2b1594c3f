from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from payments.providers import get_payment_provider
from payments.providers.base import ProviderRefund, RefundRequest
from payments.providers.sandbox.adapter import SandboxPaymentProvider


class RefundCalls:
    """Every refund request that reached the sandbox provider (thread-safe)."""

    def __init__(self) -> None:
        self.references: list[str] = []
        self.attempts = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.references)


@pytest.fixture
def sandbox_refund_calls(monkeypatch: pytest.MonkeyPatch) -> RefundCalls:
    """Counts the sandbox's refund calls: ``attempts`` (including simulated outages) and the
    references of those that went through."""
    calls = RefundCalls()
    original = SandboxPaymentProvider.refund

    def refund(self: SandboxPaymentProvider, *, request: RefundRequest) -> ProviderRefund:
        with calls._lock:
            calls.attempts += 1
        answer = original(self, request=request)
        with calls._lock:
            calls.references.append(request.reference)
        return answer

    monkeypatch.setattr(SandboxPaymentProvider, "refund", refund)
    return calls


@pytest.fixture(autouse=True)
def _sandbox_forgets_payments() -> Iterator[None]:
    """The sandbox provider keeps the payments it took in memory, keyed by ``payment:<pk>``, for
    the life of the process; test databases reuse pks. A test here that runs ``order.placed``
    deliveries must not leave a later test's payment looking already taken (the sandbox would
    answer it idempotently and send no webhook)."""
    yield
    try:
        sandbox = get_payment_provider("sandbox")
    except ImproperlyConfigured:  # a test here that runs without the sandbox
        return
    if isinstance(sandbox, SandboxPaymentProvider):
        with sandbox._lock:
            sandbox._payments.clear()
