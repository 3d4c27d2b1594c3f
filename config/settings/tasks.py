"""django-q2 clusters: the ORM broker on the embedded profile, Redis on the scaled one.

Task rows (webhook inbox, deliveries, the sandbox's outgoing webhooks) remain the record of work;
the broker only wakes workers, so a lost queue loses nothing a sweeper does not re-enqueue.

Two clusters share the settings and the broker:

* ``switchboard`` (``manage.py qcluster``) runs the work: webhook drains, deliveries, provider
  calls. ``Q_WORKERS`` of them, each recycled after ``Q_RECYCLE`` tasks.
* ``switchboard-sweepers`` (``Q_CLUSTER_NAME=switchboard-sweepers manage.py qcluster``) runs only
  the periodic sweepers and heartbeats, from its own queue, so they run ahead of any backlog in
  the main queue instead of behind it.
"""

from __future__ import annotations

import os
from typing import Any

import environ

MAIN_CLUSTER = "switchboard"
SWEEPER_CLUSTER = "switchboard-sweepers"


def default_workers() -> int:
    """Tasks mostly wait on the network and the database: two workers per core."""
    return max(2, 2 * (os.cpu_count() or 1))


def q_cluster_from_env(env: environ.Env) -> dict[str, Any]:
    workers = env.int("Q_WORKERS", default=default_workers())
    cluster: dict[str, Any] = {
        "name": MAIN_CLUSTER,
        "workers": workers,
        # A worker is replaced (forked anew) after this many tasks, bounding leaks.
        "recycle": env.int("Q_RECYCLE", default=500),
        # A task that outlives `timeout` is killed; it is retried after `retry` seconds, which
        # must be longer, and at most `max_attempts` times (the default retries forever).
        "timeout": env.int("Q_TIMEOUT", default=60),
        "retry": env.int("Q_RETRY", default=90),
        "max_attempts": env.int("Q_MAX_ATTEMPTS", default=5),
        # Tasks the cluster takes off the broker ahead of its workers. A killed cluster loses
        # these from Redis (the rows bring them back), so only a few are held.
        "queue_limit": env.int("Q_QUEUE_LIMIT", default=2 * workers),
        "ack_failures": True,
        "save_limit": 1000,
        "catch_up": False,
        "label": "Task cluster",
        "ALT_CLUSTERS": {
            SWEEPER_CLUSTER: {
                "workers": env.int("Q_SWEEPER_WORKERS", default=1),
                "recycle": env.int("Q_SWEEPER_RECYCLE", default=50),
                "queue_limit": 2,
            },
        },
    }
    redis_url = env.str("REDIS_URL", default="")
    if redis_url:
        cluster["redis"] = redis_url
    else:
        cluster["orm"] = "default"
        cluster["poll"] = 0.2
    return cluster
