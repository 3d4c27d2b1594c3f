"""gunicorn settings of the web process. gunicorn reads this file from the project directory
(``gunicorn config.wsgi`` run there, and ``manage.py run_demo``, which names it); command-line
flags override it.

Slow clients. A sync worker serves one connection at a time and blocks on it until the client
has sent its whole request, so a few clients that send headers and part of a body and then stall
hold every worker (until gunicorn kills it after ``timeout``). Here:

* ``gthread`` workers: a connection that has sent nothing waits in the worker's poller (gunicorn
  hands it back there after 5 s), and a request that is being sent holds one of ``threads``
  threads, not the whole worker;
* a read timeout: every blocking read or write on a client socket gives up after
  WEB_READ_TIMEOUT seconds without progress (``SO_RCVTIMEO``/``SO_SNDTIMEO``, set on the listening
  sockets and inherited by every accepted connection), so a stalled client frees its thread
  within that time if it stalls in its headers, and within twice that if it stalls in its body
  (the application's read answers 400, then gunicorn's drain of the unread rest times out too).

A client that trickles one byte just under every WEB_READ_TIMEOUT seconds still holds a thread:
in production a buffering proxy in front (the load balancer, or nginx with request buffering)
receives whole requests before gunicorn sees them (README, Production).
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
# gunicorn's own variable for the number of worker processes.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads per gthread worker (each may hold a database connection: keep it within
# DATABASE_POOL_MAX). Applied when the server starts, not as ``threads`` here: gunicorn would turn
# a ``--worker-class sync`` given on the command line into gthread once threads > 1.
web_threads = int(os.environ.get("WEB_THREADS", "8"))
# Seconds a client may stall a read or a write before its connection is dropped.
read_timeout = float(os.environ.get("WEB_READ_TIMEOUT", "10"))
# A worker that does not check in for this long is killed and replaced.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
keepalive = 5
# Request line and headers are bounded before the application sees them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


def on_starting(server: Any) -> None:
    """gthread workers get WEB_THREADS threads unless ``--threads`` says otherwise."""
    if server.worker_class.__name__ == "ThreadWorker" and server.cfg.threads == 1:
        server.cfg.set("threads", web_threads)


on_reload = on_starting


def post_worker_init(worker: Any) -> None:
    """Before the worker accepts anything: the read and write timeouts on its listening sockets,
    which every connection they accept inherits (Linux)."""
    seconds = int(read_timeout)
    value = struct.pack("ll", seconds, int((read_timeout - seconds) * 1_000_000))
    for listener in worker.sockets:
        raw = getattr(listener, "sock", listener)
        if raw.family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def child_exit(server: Any, worker: Any) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, a worker that exits stops counting toward the live
    gauges of /metrics; its request histogram files stay and keep being summed
    (docs/metrics.md)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
