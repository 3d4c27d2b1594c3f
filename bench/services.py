"""The whole-flow benchmarks' plumbing (``bench.chaos``, ``bench.e2e``): a private PostgreSQL and
Redis, the three application processes under supervision, an API order load, and the database
checks run once the flow has settled.

Everything listens on 127.0.0.1 only, on free ports; every wait is bounded; ``Workdir`` removes
its temporary directory and ``Stack``/``Postgres``/``Redis`` stop what they started.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import http.client
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import ROOT, free_port, manage

PR_SET_CHILD_SUBREAPER = 36
SWEEPER_CLUSTER = "switchboard-sweepers"
FINAL_ORDER_STATUS = "delivered"


# --- processes ------------------------------------------------------------------------------


def become_subreaper() -> None:
    """Orphans of killed process groups (django-q2's workers, gunicorn's workers, the postmaster
    once pg_ctl exits) are re-parented to this process instead of init, so ``reap_orphans`` can
    collect them: init on some machines never reaps, and zombies would pile up over 20 kills."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of ``pid``, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[3])


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def reap_orphans(keep: set[int]) -> int:
    """Reap this process's dead children that no ``Popen`` owns (pids in ``keep`` are left to
    their ``Popen``). Returns how many were reaped."""
    me, reaped = os.getpid(), 0
    for pid in _pids():
        if pid in keep:
            continue
        stat = _proc_stat(pid)
        if stat is not None and stat[1] == me and stat[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
                reaped += 1
    return reaped


def group_alive(pgid: int) -> int:
    """How many processes of group ``pgid`` still run (zombies excluded)."""
    count = 0
    for pid in _pids():
        stat = _proc_stat(pid)
        if stat is not None and stat[2] == pgid and stat[0] != "Z":
            count += 1
    return count


class Supervised:
    """One command in its own session (so its whole process group can be killed at once), its
    output appended to a log file across restarts."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal_group(self, signum: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)

    def _wait_group_gone(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL to the whole group (the leader and every process it forked), then wait."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        self._wait_group_gone(10)
        self.kills += 1

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=30)
        # Workers may outlive their leader for a moment; none may outlive the stack.
        self._wait_group_gone(grace)
        self._signal_group(signal.SIGKILL)
        self._wait_group_gone(10)


# --- servers --------------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """A PostgreSQL server binary: from ``PG_BIN`` if set, else on PATH, else pg_config's bindir."""
    if os.environ.get("PG_BIN"):
        return str(Path(os.environ["PG_BIN"]) / name)
    found = shutil.which(name)
    if found:
        return found
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        if (Path(bindir) / name).exists():
            return str(Path(bindir) / name)
    raise SystemExit(f"{name} not found: set PG_BIN to PostgreSQL's bin directory")


class Workdir:
    """A temporary directory for one run (servers' data, logs), removed at the end unless kept."""

    def __init__(self, keep: bool = False) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="switchboard-flow-bench-"))
        self.path.chmod(0o755)  # the postgres user must reach its own subdirectory
        self.keep = keep

    def cleanup(self) -> None:
        if self.keep:
            print(f"kept {self.path}", flush=True)
            return
        shutil.rmtree(self.path, ignore_errors=True)


class Postgres:
    """A throwaway PostgreSQL cluster: initdb into the work directory, run as the ``postgres``
    user when we are root, listening on 127.0.0.1 only, trust authentication (loopback only).
    Default configuration otherwise (fsync and synchronous_commit on), max_connections 200."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "pg"
        self.data = self.dir / "data"
        self.logfile = self.dir / "postgres.log"
        self.port = free_port()
        self.database = "switchboard_bench"
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *argv],
            cwd=self.dir,
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the postmaster must not get the terminal's Ctrl-C
        )

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            pg_tool("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir} "
            "-c max_connections=200"
        )
        self._run(
            pg_tool("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(pg_tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str, down_seconds: float) -> None:
        """Stop (``fast``: sessions terminated; ``immediate``: no shutdown checkpoint, crash
        recovery at start), stay down ``down_seconds``, start again."""
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1


class Redis:
    """A private redis-server: 127.0.0.1, a free port, no persistence (no RDB, no AOF)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SHUTDOWN NOSAVE (everything in memory is lost: queued tasks, cache), then wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "shutdown", "nosave"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def restart(self, down_seconds: float) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1


# --- the application ------------------------------------------------------------------------


def flow_env(
    *,
    database_url: str,
    redis_url: str,
    workdir: Path,
    extra: dict[str, str],
) -> dict[str, str]:
    """Environment shared by the web server, both clusters and this process's own queries."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url or f"sqlite:///{workdir / 'flow.sqlite3'}",
        "REDIS_URL": redis_url,
        # A throwaway secret per run; the web server and the clusters share it.
        "SANDBOX_WEBHOOK_SECRET": _secret(),
        # The load is one API key placing orders far above the production throttles.
        "API_KEY_RATE": "100000/min",
        "API_USER_RATE": "100000/min",
        # No quiet hours: the flows measure delivery at whatever hour they run. The default
        # (21:00-08:00 in the customer's zone) holds every notification until morning, so a run
        # started in those hours could never settle.
        "NOTIFICATION_QUIET_HOURS": "",
    }
    env.update(extra)
    return env


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Stack:
    """gunicorn, the main task cluster and the sweeper cluster, each in its own
    process group; the web server keeps its port across restarts (the sandbox posts to it)."""

    def __init__(
        self, env: dict[str, str], logdir: Path, *, web_workers: int = 2, web_class: str = ""
    ) -> None:
        self.port = free_port()
        self.env = {**env, "SANDBOX_WEBHOOK_TARGET": f"http://127.0.0.1:{self.port}"}
        self.logdir = logdir
        python = sys.executable
        # gunicorn reads the project's gunicorn.conf.py (worker class, threads, timeouts) from the
        # project directory when there is one; ``web_class`` overrides its worker class. The
        # keep-alive is raised so the load's idle connections are not closed under it (the load
        # never retries an order).
        web_argv = [
            python,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(web_workers),
            *(["--worker-class", web_class] if web_class else []),
            "--no-control-socket",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "5",
            "--keep-alive",
            "30",
        ]
        self.web = Supervised("web", web_argv, self.env, logdir / "web.log")
        self.tasks = Supervised(
            "tasks", [python, "manage.py", "qcluster"], self.env, logdir / "tasks.log"
        )
        self.sweepers = Supervised(
            "sweepers",
            [python, "manage.py", "qcluster"],
            {**self.env, "Q_CLUSTER_NAME": SWEEPER_CLUSTER},
            logdir / "sweepers.log",
        )

    @property
    def members(self) -> list[Supervised]:
        return [self.web, self.tasks, self.sweepers]

    def prepare(self) -> None:
        manage(self.env, "migrate", "--no-input")  # also registers the periodic sweepers
        manage(self.env, "createcachetable")

    def start(self) -> None:
        """All three at once (they boot in parallel); returns once the web server answers."""
        self.web.start()
        self.tasks.start()
        self.sweepers.start()
        self.wait_web()

    def wait_web(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.web.running():
                raise RuntimeError(f"gunicorn exited; see {self.web.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health/")
                if conn.getresponse().status in (200, 503):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer /health/")

    def restart_tasks(self, env_update: dict[str, str]) -> None:
        """Stop the main cluster, change its environment (e.g. Q_WORKERS), start it again."""
        self.tasks.stop()
        self.tasks.env = {**self.tasks.env, **env_update}
        self.tasks.start()

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to every member at once (they shut down in parallel), then wait for each
        (SIGKILL after ``grace`` seconds)."""
        for member in self.members:
            if member.running():
                member._signal_group(signal.SIGTERM)
        for member in self.members:
            member.stop(grace)

    def pids(self) -> set[int]:
        return {m.pid for m in self.members if m.pid is not None}


def tracebacks(log: Path) -> int:
    """Lines naming a Python traceback (a JSON log line carries one in its ``exception``)."""
    if not log.exists():
        return 0
    with log.open("rb") as fh:
        return sum(1 for line in fh if b"Traceback" in line)


def error_events(log: Path, limit: int = 8) -> list[tuple[str, int]]:
    """The most frequent error-level JSON log events (``event`` key), and plain error lines."""
    counts: Counter[str] = Counter()
    if not log.exists():
        return []
    with log.open("rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("level") in ("error", "critical", "exception"):
                    counts[str(record.get("event"))[:80]] += 1
            elif re.match(r"^\w*(Error|Exception)\b", line) or "[ERROR]" in line:
                counts[line[:80]] += 1
    return counts.most_common(limit)


def excerpts(log: Path, needle: str, limit: int = 3, width: int = 600) -> list[str]:
    """The first lines containing ``needle``, shortened (for a failure report)."""
    found: list[str] = []
    if not log.exists():
        return found
    with log.open("rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace")
            if needle in line:
                found.append(line.strip()[:width])
                if len(found) >= limit:
                    break
    return found


# --- load -----------------------------------------------------------------------------------


def order_body(tag: str, i: int) -> dict[str, Any]:
    """A distinct order: its own customer (e-mail, phone), amounts varying with ``i``. Totals
    never end in 13 minor units (the sandbox declines those cards) and phones never end in 0000
    (the sandbox's undeliverable WhatsApp number)."""
    quantity = 1 + i % 3
    unit = 1000 + (i * 37) % 9000
    shipping = 990 + (i % 5) * 250
    if (quantity * unit + shipping) % 100 == 13:
        unit += 1
    phone = f"+551198{(i * 7919 + 1234567) % 10**7:07d}"
    if phone.endswith("0000"):
        phone = phone[:-1] + "1"
    return {
        "customer": {
            "email": f"{tag}-{i}@bench.example.test",
            "name": f"Bench Customer {i}",
            "phone": phone,
        },
        "currency": "BRL",
        "payment_method": "card",
        "lines": [
            {
                "sku": f"SKU-{i % 50:03d}",
                "description": f"Bench item {i % 50}",
                "quantity": quantity,
                "unit_amount": unit,
            }
        ],
        "shipping_amount": shipping,
    }


@dataclass
class Sent:
    index: int
    email: str
    at: float  # wall clock, when it was due to be sent
    status: int = -1  # HTTP status; 0 for a connection error (no answer)
    seconds: float = 0.0
    number: str = ""
    detail: str = ""
    done: float = 0.0  # wall clock, when the answer (or the error) came


@dataclass
class OrderLoad:
    """Open-loop order placement: ``count`` orders at ``rate`` per second over ``connections``
    keep-alive connections, whatever the answers (a killed server does not slow the schedule).
    Orders are never retried: the API has no idempotency key, so a retry could place twice."""

    port: int
    api_key: str
    tag: str
    rate: float
    count: int
    connections: int = 8
    results: list[Sent] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="order-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _post(self, conn: http.client.HTTPConnection, item: Sent) -> None:
        body = json.dumps(order_body(self.tag, item.index)).encode()
        headers = {
            "Authorization": f"Api-Key {self.api_key}",
            "Content-Type": "application/json",
        }
        conn.request("POST", "/api/v1/orders/", body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        item.status = response.status
        if response.status == 201:
            item.number = json.loads(payload)["number"]
        elif response.status >= 400:
            item.detail = payload[:300].decode("utf-8", "replace")

    def _worker(self, work: queue.Queue[Sent | None], lock: threading.Lock) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while (item := work.get()) is not None:
            started = time.monotonic()
            try:
                self._post(conn, item)
            except (OSError, http.client.HTTPException) as exc:
                item.status = 0
                item.detail = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            item.seconds = time.monotonic() - started
            item.done = time.time()
            with lock:
                self.results.append(item)
        conn.close()

    def _run(self) -> None:
        work: queue.Queue[Sent | None] = queue.Queue()
        lock = threading.Lock()
        workers = [
            threading.Thread(target=self._worker, args=(work, lock), daemon=True)
            for _ in range(self.connections)
        ]
        for w in workers:
            w.start()
        started = time.monotonic()
        wall = time.time()
        for i in range(self.count):
            if self._stop.is_set():
                break
            due = started + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            work.put(
                Sent(index=i, email=f"{self.tag}-{i}@bench.example.test", at=wall + i / self.rate)
            )
        for _ in workers:
            work.put(None)
        for w in workers:
            w.join(60)

    def statuses(self) -> Counter[int]:
        return Counter(s.status for s in self.results)


# --- in-process queries ---------------------------------------------------------------------


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process against the run's database (for the checks)."""
    os.environ.update(env)
    import django

    django.setup()


def fresh_connection() -> None:
    """Hand this thread's connection back (to the pool, on PostgreSQL), so the next query gets a
    live one: outside a request nothing else does, and a server restart leaves it dead."""
    from django.db import connections

    connections.close_all()


def create_api_key() -> str:
    from accounts.access.api_keys import api_key_create

    return api_key_create(name="flow-bench", scopes=["orders:write", "orders:read"])[1]


def open_work() -> dict[str, int]:
    """What is still to happen; all zero once the flow has settled."""
    from integrations.models import Delivery, SandboxWebhook, WebhookEvent, WebhookMessage
    from integrations.webhooks.inbox import waiting_arrivals
    from notifications.models import Notification
    from orders.models import Order
    from payments.models import Refund

    return {
        "orders_not_delivered": Order.objects.exclude(status=FINAL_ORDER_STATUS).count(),
        "webhooks_arrived": waiting_arrivals().count(),
        "webhooks_open": WebhookEvent.objects.exclude(status__in=["processed", "ignored"]).count(),
        "deliveries_open": Delivery.objects.exclude(status="succeeded").count(),
        "sandbox_unsent": SandboxWebhook.objects.exclude(status="sent").count(),
        "notifications_open": (
            Notification.objects.filter(channel="whatsapp").exclude(status="read").count()
            + Notification.objects.filter(channel="email").exclude(status="sent").count()
        ),
        # Outbound webhooks and refunds (none unless the run makes them, as bench.chaos does).
        "outbound_open": WebhookMessage.objects.filter(
            status__in=["pending", "sending", "failed"]
        ).count(),
        "refunds_open": Refund.objects.filter(
            status__in=["requested", "approved", "processing"]
        ).count(),
    }


def wait_settled(
    *, timeout: float, stall: float = 240.0, poll: float = 2.0, progress: float = 30.0
) -> tuple[bool, float, dict[str, int]]:
    """Poll ``open_work`` until all zero, ``timeout`` passes, or nothing moves for ``stall``
    seconds. Returns (settled, wall time it settled or gave up, last counts)."""
    started = last_change = last_print = time.monotonic()
    previous: dict[str, int] = {}
    counts: dict[str, int] = {}
    while True:
        try:
            fresh_connection()
            counts = open_work()
        except Exception as exc:  # a query may fail right after a database restart
            print(f"  settle poll failed: {type(exc).__name__}: {exc}", flush=True)
            counts = previous
        now = time.monotonic()
        if counts and not any(counts.values()):
            return True, time.time(), counts
        if counts != previous:
            previous, last_change = counts, now
        if now - last_print >= progress:
            print(f"  settling +{now - started:.0f}s: {counts}", flush=True)
            last_print = now
        if now - started > timeout or now - last_change > stall:
            return False, time.time(), counts
        time.sleep(poll)


def queued_tasks() -> Counter[str]:
    """The main cluster's queue right now, by task function (its last dotted part): what the
    workers have ahead of them. Reads the broker the settings name (ORM table or Redis list)."""
    from django.conf import settings
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    name = str(settings.Q_CLUSTER["name"])
    broker = get_broker(name)
    if settings.Q_CLUSTER.get("redis"):
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    else:
        from django_q.models import OrmQ

        payloads = list(OrmQ.objects.filter(key=name).values_list("payload", flat=True))
    counts: Counter[str] = Counter()
    for payload in payloads:
        try:
            counts[str(SignedPackage.loads(payload)["func"]).rsplit(".", 1)[-1]] += 1
        except Exception:  # a payload signed with another key, or a format we do not know
            counts["?"] += 1
    return counts


class QueueSampler:
    """Samples ``queued_tasks`` every ``every`` seconds in a thread; keeps each function's peak."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.peak: Counter[str] = Counter()
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="queue-sampler", daemon=True)

    def _run(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(self.every):
                try:
                    now = queued_tasks()
                except Exception:  # the broker or database may be down mid-fault: skip a sample
                    self.failed += 1
                    now = Counter()
                    with contextlib.suppress(Exception):
                        connection.close()
                for func, n in now.items():
                    self.peak[func] = max(self.peak[func], n)
        finally:
            connection.close()

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def load_average() -> str:
    """The machine's 1-minute load average (other work on the box shows up here)."""
    return f"{os.getloadavg()[0]:.1f}"


@dataclass
class Check:
    name: str
    value: int
    must_be_zero: bool = True

    @property
    def ok(self) -> bool:
        return self.value == 0 or not self.must_be_zero


def correctness_checks() -> list[Check]:
    """Duplicate and misattached effects over every order in the database (each bench order has
    its own customer, so per customer is per order)."""
    from django.db.models import Count, F, Q

    from integrations.models import Delivery, DomainEvent, WebhookEvent
    from notifications.models import Notification
    from orders.models import Order
    from payments.models import Payment
    from shipping.models import Shipment

    orders: dict[int, dict[str, Any]] = {
        o["pk"]: dict(o)
        for o in Order.objects.values("pk", "number", "customer_id", "total_amount", "currency")
    }
    by_customer: dict[int, int] = {}
    shared_customers = 0
    for pk, o in orders.items():
        if o["customer_id"] in by_customer:
            shared_customers += 1
        by_customer[o["customer_id"]] = pk

    def dupes(qs: Any, *fields: str) -> int:
        return int(qs.values(*fields).annotate(n=Count("id")).filter(n__gt=1).count())

    live_payments = Payment.objects.exclude(status__in=["failed", "cancelled"])
    checks = [
        Check("customers with more than one order (setup)", shared_customers),
        Check("dup: orders with 2+ live payments", dupes(live_payments, "order_id")),
        Check("dup: orders with 2+ payments of any status", dupes(Payment.objects, "order_id")),
        Check("dup: orders with 2+ shipments", dupes(Shipment.objects, "order_id")),
        Check(
            "dup: tracking codes on 2+ shipments",
            dupes(Shipment.objects.exclude(tracking_code=""), "carrier", "tracking_code"),
        ),
        Check(
            "dup: shipments with 2+ labels bought (events)",
            dupes(DomainEvent.objects.filter(type="shipment.label_purchased"), "subject_id"),
        ),
        Check(
            "dup: notifications (template, channel, customer) 2+",
            dupes(Notification.objects, "template", "channel", "customer_id"),
        ),
        Check(
            "dup: deliveries (event, subscriber) 2+",
            dupes(Delivery.objects, "event_id", "subscriber"),
        ),
        Check(
            "dup: webhook events (provider, id) 2+",
            dupes(WebhookEvent.objects, "provider", "event_id"),
        ),
    ]
    for event_type in ("order.placed", "order.paid", "payment.succeeded", "shipment.delivered"):
        checks.append(
            Check(
                f"dup: {event_type} events on one subject 2+",
                dupes(DomainEvent.objects.filter(type=event_type), "subject_id"),
            )
        )

    # Misattached: payments, shipments' and events' customers, notification texts, webhooks.
    checks.append(
        Check(
            "misattached: payments != order amount/currency",
            Payment.objects.exclude(
                Q(amount=F("order__total_amount")) & Q(currency=F("order__currency"))
            ).count(),
        )
    )
    wrong_text = wrong_recipient = 0
    for n in Notification.objects.select_related("customer").iterator(chunk_size=2000):
        text = f"{n.subject} {n.body}"
        order_pk = by_customer.get(n.customer_id)
        number = str(orders[order_pk]["number"]) if order_pk else ""
        if not number or number not in text or set(re.findall(r"SB-\d+", text)) - {number}:
            wrong_text += 1
        expected = n.customer.email if n.channel == "email" else n.customer.phone
        if n.recipient != expected:
            wrong_recipient += 1
    checks.append(Check("misattached: notifications naming another order", wrong_text))
    checks.append(Check("misattached: notifications to another recipient", wrong_recipient))

    subjects: dict[str, dict[int, int]] = {
        "orders.order": {pk: pk for pk in orders},
        "payments.payment": dict(Payment.objects.values_list("pk", "order_id")),
        "shipping.shipment": dict(Shipment.objects.values_list("pk", "order_id")),
    }
    wrong_event_customer = 0
    wrong_event_number = 0
    for e in DomainEvent.objects.filter(
        subject_type__app_label__in=["orders", "payments", "shipping"]
    ).values("customer_id", "subject_type__app_label", "subject_type__model", "subject_id", "data"):
        label = f"{e['subject_type__app_label']}.{e['subject_type__model']}"
        mapping = subjects.get(label)
        if mapping is None or not str(e["subject_id"]).isdigit():
            continue
        order_pk = mapping.get(int(e["subject_id"]))
        if order_pk is None or orders[order_pk]["customer_id"] != e["customer_id"]:
            wrong_event_customer += 1
            continue
        data = e["data"] or {}
        named = data.get("number") if label == "orders.order" else data.get("order")
        if (
            isinstance(named, str)
            and named.startswith("SB-")
            and named != orders[order_pk]["number"]
        ):
            wrong_event_number += 1
    checks.append(Check("misattached: domain events on another customer", wrong_event_customer))
    checks.append(Check("misattached: domain events naming another order", wrong_event_number))

    notification_orders: dict[int, int | None] = {
        pk: by_customer.get(c) for pk, c in Notification.objects.values_list("pk", "customer_id")
    }
    order_of: dict[str, dict[int, int | None]] = {
        "order": {pk: pk for pk in orders},
        "payment": dict(subjects["payments.payment"]),
        "shipment": dict(subjects["shipping.shipment"]),
        "notification": notification_orders,
    }
    by_model = {
        "orders.order": "order",
        "payments.payment": "payment",
        "shipping.shipment": "shipment",
        "notifications.notification": "notification",
    }
    tracking_of = dict(Shipment.objects.values_list("pk", "tracking_code"))
    payment_of = {
        pk: (provider_id, amount, currency)
        for pk, provider_id, amount, currency in Payment.objects.values_list(
            "pk", "provider_payment_id", "amount", "currency"
        )
    }
    message_id_of = dict(Notification.objects.values_list("pk", "provider_message_id"))
    wrong_webhook = 0
    for w in (
        WebhookEvent.objects.filter(status="processed")
        .values("body", "affected")
        .iterator(chunk_size=2000)
    ):
        try:
            data = json.loads(w["body"]).get("data") or {}
        except ValueError:
            wrong_webhook += 1
            continue
        kind, _, ref = str(data.get("reference") or "").partition(":")
        if kind not in order_of or not ref.isdigit():
            continue
        ref_pk = int(ref)
        expected_order = order_of[kind].get(ref_pk)
        # The body's provider ids and amounts belong to the object its reference names...
        if kind == "payment" and payment_of.get(ref_pk) != (
            data.get("id"),
            data.get("amount"),
            data.get("currency"),
        ):
            wrong_webhook += 1
        if kind == "shipment" and tracking_of.get(ref_pk) != data.get("tracking_code"):
            wrong_webhook += 1
        if kind == "notification" and message_id_of.get(ref_pk) != data.get("id"):
            wrong_webhook += 1
        # ...and everything it changed belongs to that object's order.
        for item in w["affected"] or []:
            model = by_model.get(str(item.get("model")))
            if model is None or not str(item.get("pk")).isdigit():
                continue
            if expected_order is None or order_of[model].get(int(item["pk"])) != expected_order:
                wrong_webhook += 1
    checks.append(Check("misattached: webhook effects on another order", wrong_webhook))
    return checks


def liveness_counts() -> dict[str, int]:
    """Work not finished (must all be zero after settling), by table and status."""
    from django.db.models import Count

    from integrations.models import Delivery, SandboxWebhook, WebhookEvent
    from integrations.webhooks.inbox import waiting_arrivals

    def by_status(qs: Any) -> dict[str, int]:
        return dict(qs.values_list("status").annotate(n=Count("id")).order_by())

    hooks = by_status(WebhookEvent.objects.exclude(status__in=["processed", "ignored"]))
    deliveries = by_status(Delivery.objects.exclude(status="succeeded"))
    sandbox = by_status(SandboxWebhook.objects.exclude(status="sent"))
    return {
        "webhook arrivals waiting": waiting_arrivals().count(),
        **{f"webhook events {k}": v for k, v in hooks.items()},
        **{f"deliveries {k}": v for k, v in deliveries.items()},
        **{f"sandbox webhooks {k}": v for k, v in sandbox.items()},
    }


def flow_totals() -> dict[str, int]:
    from integrations.models import Delivery, SandboxWebhook, WebhookEvent
    from notifications.models import Notification
    from orders.models import Order

    return {
        "orders": Order.objects.count(),
        "orders delivered": Order.objects.filter(status=FINAL_ORDER_STATUS).count(),
        "webhook events": WebhookEvent.objects.count(),
        "sandbox webhooks sent": SandboxWebhook.objects.filter(status="sent").count(),
        "deliveries": Delivery.objects.count(),
        "notifications": Notification.objects.count(),
    }


@contextlib.contextmanager
def servers(profile: str, workdir: Path) -> Iterator[tuple[Postgres | None, Redis | None]]:
    """The scaled profile's PostgreSQL and Redis (nothing for the embedded one), stopped after."""
    if profile == "embedded":
        yield None, None
        return
    pg, rds = Postgres(workdir), Redis(workdir)
    try:
        pg.init()
        rds.start()
        yield pg, rds
    finally:
        with contextlib.suppress(Exception):
            rds.stop()
        with contextlib.suppress(Exception):
            pg.stop("fast")
