from __future__ import annotations

import threading

import pytest

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
