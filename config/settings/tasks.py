"""django-q2 cluster: the ORM broker on the embedded profile, Redis on the scaled one.

Task rows (webhook inbox, deliveries) remain the record of work; the broker only wakes workers.
"""

from __future__ import annotations

from typing import Any

import environ


def q_cluster_from_env(env: environ.Env) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": "switchboard",
        "workers": env.int("Q_WORKERS", default=2),
        "recycle": 500,
        # A task that outlives `timeout` is killed; it is retried after `retry` seconds, which
        # must be longer, and at most `max_attempts` times (the default retries forever).
        "timeout": env.int("Q_TIMEOUT", default=60),
        "retry": env.int("Q_RETRY", default=90),
        "max_attempts": env.int("Q_MAX_ATTEMPTS", default=5),
        "ack_failures": True,
        "save_limit": 1000,
        "catch_up": False,
        "label": "Task cluster",
    }
    redis_url = env.str("REDIS_URL", default="")
    if redis_url:
        cluster["redis"] = redis_url
    else:
        cluster["orm"] = "default"
        cluster["poll"] = 0.2
    return cluster
