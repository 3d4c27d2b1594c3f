"""A token bucket shared by every worker, kept in the database (``CrmSyncState``).

HubSpot allows 190 requests per 10 s (Professional and Enterprise). The bucket holds at most
``capacity`` tokens and gains ``capacity / period`` per second; each request takes one. The
state is a database row, read and written under a row lock in a short transaction of its own,
so web processes, task workers and hosts draw from one bucket (a cache would forget it while
Redis is down: the degrading cache keeps nothing then). The clock is injected so tests can
step time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import transaction

from accounts.models import CrmSyncState
from integrations.exceptions import ProviderUnavailable


class RateLimited(ProviderUnavailable):
    """No token within the wait a caller may afford: retry later (nothing was sent)."""

    code = "crm_rate_limited"
    title = "CRM rate limit reached"


class TokenBucket:
    def __init__(
        self,
        *,
        name: str,
        capacity: int,
        period: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.capacity = float(capacity)
        self.rate = capacity / period
        self.clock = clock
        self.sleep = sleep

    def take(self) -> float:
        """Take one token if there is one and answer 0.0, else take nothing and answer how many
        seconds until one is there."""
        now = self.clock()
        with transaction.atomic():
            state, _ = CrmSyncState.objects.select_for_update().get_or_create(
                provider=self.name, defaults={"bucket_tokens": self.capacity, "bucket_at": now}
            )
            elapsed = max(0.0, now - state.bucket_at)
            tokens = min(self.capacity, state.bucket_tokens + elapsed * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            state.bucket_tokens = tokens
            state.bucket_at = max(now, state.bucket_at)
            state.save(update_fields=["bucket_tokens", "bucket_at"])
        return wait

    def acquire(self, *, max_wait: float) -> None:
        """Take a token, sleeping for it while the total wait stays within ``max_wait`` seconds
        (other workers may take the tokens meanwhile); raises RateLimited (with
        ``retry_after``) when it would take longer."""
        waited = 0.0
        while True:
            wait = self.take()
            if wait == 0.0:
                return
            if waited + wait > max_wait:
                raise RateLimited(
                    f"{self.name}: rate limit, next request in {wait:.2f}s",
                    provider=self.name,
                    retry_after=wait,
                )
            self.sleep(wait)
            waited += wait
