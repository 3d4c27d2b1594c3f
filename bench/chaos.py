"""Faults under load: the whole flow keeps its guarantees while its processes are killed.

    python -m bench.chaos --profile embedded|scaled [--kills 20] [--rate 5] [--duration 300]

Starts, on loopback, gunicorn, the main task cluster and the sweeper cluster (each in its own
session) and, for the scaled profile, a private PostgreSQL cluster and redis-server. Orders are
placed through ``POST /api/v1/orders/`` at a steady ``--rate`` per second for ``--duration``
seconds (open loop, never retried), with the sandbox's chaos on (duplicate deliveries, reordering).
Meanwhile, at random moments (one per slot of the run, seeded): the main task cluster's whole
process group (qcluster, sentinel, workers) gets SIGKILL ``--kills`` times and is started again
after a short pause; gunicorn (master and workers) gets SIGKILL ``--web-kills`` times; on the
scaled profile PostgreSQL is restarted once (``pg_ctl stop -m immediate``, down a few seconds,
start) and Redis once (SHUTDOWN NOSAVE: queued tasks and the cache are lost, start).

Claim timeouts are lowered (``--claim-timeout``; production defaults are 300 s for deliveries and
webhooks), so work claimed by a killed worker is taken back within the run.

Then the load stops and the database is polled until everything settled (bounded), and checked:
every 201 order exists; every order is delivered; no duplicate effect (payments, shipments,
labels, notifications, deliveries, domain events); no misattached effect (payment amounts,
notification texts and recipients, domain events' customers, webhook events' effects against the
object their body references); no webhook event, delivery or sandbox webhook left unfinished.
Exit status 1 when any of those fails. Also reported: API 5xx and connection errors, and the
Traceback lines in each process's log.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.chaos_flows import (
    Probe,
    Refunder,
    SweepKicker,
    WebhookSender,
    external_webhook_report,
    outbound_checks,
    outbound_endpoint,
    percentile,
    refund_checks,
    stuck_counts,
)
from bench.services import (
    Check,
    OrderLoad,
    Postgres,
    QueueSampler,
    Redis,
    Stack,
    Workdir,
    become_subreaper,
    correctness_checks,
    create_api_key,
    django_setup,
    error_events,
    excerpts,
    flow_env,
    flow_totals,
    fresh_connection,
    liveness_counts,
    load_average,
    reap_orphans,
    servers,
    tracebacks,
    wait_settled,
)

# A 5xx or connection error this soon after a fault ended is counted as caused by it.
FAULT_SHADOW_SECONDS = 5.0


@dataclass
class Fault:
    kind: str
    due: float  # seconds after the load started
    started: float = 0.0  # wall clock
    restarted: float = 0.0  # wall clock, when the killed or stopped thing was started again
    ended: float = 0.0


def plan(kinds: list[str], *, duration: float, margin: float, rng: random.Random) -> list[Fault]:
    """One fault per equal slot of the run, at a random moment inside its slot (so faults are
    random but never bunched), in a random order of kinds."""
    rng.shuffle(kinds)
    slot = (duration - 2 * margin) / len(kinds)
    return [
        Fault(kind, margin + i * slot + rng.uniform(0.1, 0.9) * slot)
        for i, kind in enumerate(kinds)
    ]


def inject(
    fault: Fault,
    stack: Stack,
    pg: Postgres | None,
    rds: Redis | None,
    args: argparse.Namespace,
    rng: random.Random,
    probe: Probe | None = None,
) -> None:
    fault.started = time.time()
    pause = rng.uniform(args.pause_min, args.pause_max)
    if fault.kind == "tasks":
        stack.tasks.kill()
        time.sleep(pause)
        fault.restarted = time.time()
        stack.tasks.start()
    elif fault.kind == "web":
        stack.web.kill()
        time.sleep(pause)
        fault.restarted = time.time()
        stack.web.start()
        stack.wait_web()
    elif fault.kind == "postgres" and pg is not None:
        pg.restart(args.pg_mode, args.down)
        fault.restarted = time.time()
    elif fault.kind == "redis" and rds is not None:
        rds.restart(args.down)
        fault.restarted = time.time()
    fault.ended = time.time()
    if probe is not None and fault.kind != "web":
        probe.launch(fault.kind, fault.restarted)
    reap_orphans(stack.pids())


def supervise(stack: Stack, exits: Counter[str]) -> None:
    """Like a process supervisor: start again a member that exited on its own (counted)."""
    for member in stack.members:
        if member.proc is not None and not member.running():
            exits[member.name] += 1
            print(f"  ! {member.name} exited on its own ({member.proc.returncode}); restarting")
            member.start()
            if member is stack.web:
                stack.wait_web()


def in_shadow(at: float, faults: list[Fault]) -> bool:
    return any(f.started - 1 <= at <= f.ended + FAULT_SHADOW_SECONDS for f in faults if f.started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=["embedded", "scaled"], required=True)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the main cluster")
    parser.add_argument("--web-kills", type=int, default=3, help="SIGKILLs of gunicorn")
    parser.add_argument(
        "--trials",
        type=int,
        default=0,
        help="kill trials in all (overrides --kills/--web-kills: a fifth are gunicorn's)",
    )
    parser.add_argument("--rate", type=float, default=5.0, help="orders per second")
    parser.add_argument(
        "--webhook-rate", type=float, default=2.0, help="signed provider webhooks per second"
    )
    parser.add_argument(
        "--refund-rate", type=float, default=0.3, help="refunds of delivered orders per second"
    )
    parser.add_argument("--outbound-claim-timeout", type=int, default=20)
    parser.add_argument(
        "--min-refunds",
        type=int,
        default=1,
        help="after the load, keep refunding (at most 60 s) until this many were requested",
    )
    parser.add_argument(
        "--sweep-every",
        type=float,
        default=0.0,
        help="while settling, also enqueue the sweeper jobs every N s (0: their minute only)",
    )
    parser.add_argument(
        "--sweep-pending-after",
        type=int,
        default=0,
        help="DELIVERY_SWEEP_PENDING_AFTER_SECONDS (0: the default, 60)",
    )
    parser.add_argument("--json", default="", help="also write the counts to this JSON file")
    parser.add_argument(
        "--stop-grace", type=float, default=15.0, help="seconds from SIGTERM to SIGKILL at the end"
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=0, help="Q_WORKERS (0: the default)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--web-worker-class",
        default="",
        help="gunicorn worker class (default: the project's gunicorn.conf.py, else sync)",
    )
    parser.add_argument("--pause-min", type=float, default=0.5, help="seconds down after a kill")
    parser.add_argument("--pause-max", type=float, default=3.0)
    parser.add_argument("--down", type=float, default=3.0, help="PostgreSQL/Redis seconds down")
    parser.add_argument("--pg-mode", choices=["fast", "immediate"], default="immediate")
    parser.add_argument("--claim-timeout", type=int, default=30, help="deliveries and webhooks")
    parser.add_argument("--sandbox-claim-timeout", type=int, default=20)
    parser.add_argument("--duplicate-rate", type=float, default=0.3)
    parser.add_argument("--no-reorder", action="store_true")
    parser.add_argument("--delay-min-ms", type=int, default=10)
    parser.add_argument("--delay-max-ms", type=int, default=400)
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    if args.trials:
        args.web_kills = max(1, args.trials // 5)
        args.kills = args.trials - args.web_kills

    rng = random.Random(args.seed)
    kinds = ["tasks"] * args.kills + ["web"] * args.web_kills
    if args.profile == "scaled":
        kinds += ["postgres", "redis"]
    faults = plan(kinds, duration=args.duration, margin=min(10.0, args.duration / 6), rng=rng)

    become_subreaper()
    workdir = Workdir(keep=args.keep)
    exits: Counter[str] = Counter()
    try:
        with servers(args.profile, workdir.path) as (pg, rds):
            extra = {
                "SANDBOX_DELAY_MIN_MS": str(args.delay_min_ms),
                "SANDBOX_DELAY_MAX_MS": str(args.delay_max_ms),
                "SANDBOX_CHAOS_DUPLICATE_RATE": str(args.duplicate_rate),
                "SANDBOX_CHAOS_REORDER": "false" if args.no_reorder else "true",
                "DELIVERY_CLAIM_TIMEOUT_SECONDS": str(args.claim_timeout),
                "WEBHOOK_CLAIM_TIMEOUT_SECONDS": str(args.claim_timeout),
                "SANDBOX_CLAIM_TIMEOUT_SECONDS": str(args.sandbox_claim_timeout),
                # The outbound endpoint is this process's loopback receiver.
                "WEBHOOKS_OUT_ALLOWED_NETWORKS": "127.0.0.1/32",
                "WEBHOOKS_OUT_ALLOW_HTTP": "true",
                "WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS": str(args.outbound_claim_timeout),
            }
            if args.workers:
                extra["Q_WORKERS"] = str(args.workers)
            if args.sweep_pending_after:
                extra["DELIVERY_SWEEP_PENDING_AFTER_SECONDS"] = str(args.sweep_pending_after)
            env = flow_env(
                database_url=pg.url if pg else "",
                redis_url=rds.url if rds else "",
                workdir=workdir.path,
                extra=extra,
            )
            stack = Stack(
                env,
                workdir.path,
                web_workers=args.web_workers,
                web_class=args.web_worker_class,
            )
            stack.prepare()
            django_setup(stack.env)
            key = create_api_key()
            with webhook_receiver() as receiver:
                receiver.keep_requests = False
                endpoint_id = outbound_endpoint(receiver)
                stack.start()
                try:
                    result = run(args, stack, pg, rds, key, faults, rng, exits)
                finally:
                    stopping = time.monotonic()
                    stack.stop(grace=args.stop_grace)
                    reap_orphans(stack.pids())
                    print(f"stack stopped in {time.monotonic() - stopping:.1f}s", flush=True)
                outbound = outbound_checks(receiver, endpoint_id)
            result["outbound"] = outbound
            logs = {m.name: m.log for m in stack.members}
            result["tracebacks"] = {name: tracebacks(log) for name, log in logs.items()}
            result["errors"] = {name: error_events(log) for name, log in logs.items()}
            result["traceback_excerpts"] = {
                name: excerpts(log, "Traceback", limit=2) for name, log in logs.items()
            }
    finally:
        workdir.cleanup()
    report(args, result, exits)


def webhook_receiver() -> Any:
    from config.fake_providers.webhook_receiver import webhook_receiver as serve

    return serve()


def apply_faults(
    args: argparse.Namespace,
    stack: Stack,
    pg: Postgres | None,
    rds: Redis | None,
    load: OrderLoad,
    faults: list[Fault],
    rng: random.Random,
    exits: Counter[str],
    flows: Flows,
) -> tuple[float, float]:
    """Run the load for ``args.duration`` seconds, injecting each fault when due; returns when
    the load started and ended (wall clock)."""
    started = time.monotonic()
    load_started = time.time()
    load.start()
    flows.sender.start()
    flows.refunder.start()
    pending = list(faults)
    last_print = started
    while time.monotonic() - started < args.duration + 5:
        now = time.monotonic() - started
        if pending and now >= pending[0].due:
            fault = pending.pop(0)
            inject(fault, stack, pg, rds, args, rng, flows.probe)
            print(
                f"  t={now:6.1f}s {fault.kind:<8} down {fault.ended - fault.started:4.1f}s",
                flush=True,
            )
        supervise(stack, exits)
        if time.monotonic() - last_print > 30:
            print(f"  t={now:6.1f}s sent {len(load.results)}: {dict(load.statuses())}", flush=True)
            last_print = time.monotonic()
        time.sleep(0.1)
    for fault in pending:  # none, unless the duration was too short for the plan
        inject(fault, stack, pg, rds, args, rng, flows.probe)
    load.stop()
    flows.sender.stop()
    flows.refunder.stop(at_least=args.min_refunds)
    load.join(timeout=90)
    return load_started, time.time()


@dataclass
class Flows:
    """What runs beside the orders: external webhooks, refunds, recovery probes."""

    sender: WebhookSender
    refunder: Refunder
    probe: Probe


def run(
    args: argparse.Namespace,
    stack: Stack,
    pg: Postgres | None,
    rds: Redis | None,
    key: str,
    faults: list[Fault],
    rng: random.Random,
    exits: Counter[str],
) -> dict[str, Any]:
    count = int(args.rate * args.duration)
    load = OrderLoad(stack.port, key, "chaos", args.rate, count)
    flows = Flows(
        sender=WebhookSender(
            port=stack.port,
            secret=stack.env["SANDBOX_WEBHOOK_SECRET"],
            rate=args.webhook_rate,
            limit=int(args.webhook_rate * (args.duration + 5)) + 1,
            seed=args.seed,
        ),
        refunder=Refunder(rate=args.refund_rate),
        probe=Probe(),
    )
    print(
        f"{args.profile}: {count} orders at {args.rate}/s over {args.duration:.0f}s; "
        f"{len(faults)} faults: {dict(Counter(f.kind for f in faults))}",
        flush=True,
    )
    load_before = load_average()
    with QueueSampler(every=5.0) as sampler:
        load_started, load_ended = apply_faults(
            args, stack, pg, rds, load, faults, rng, exits, flows
        )
        last_fault = max(f.ended for f in faults)
        print(f"load done; settling (at most {args.settle_timeout:.0f}s)", flush=True)
        with SweepKicker(args.sweep_every):
            settled, settled_at, left = wait_settled(timeout=args.settle_timeout, stall=300)
        flows.probe.join(timeout=15)  # settled: a probe not run by now was lost to a fault
    supervise(stack, exits)
    fresh_connection()
    checking = time.monotonic()
    try:
        return {
            "flows": flows,
            "external": external_webhook_report(flows.sender),
            "refunds": refund_checks(),
            "stuck": stuck_counts(),
            "recovery": recovery(faults, load, flows.probe),
            "peak_queued": dict(sampler.peak.most_common(5)),
            "load_avg": f"{load_before} -> {load_average()}",
            "load": load,
            "faults": faults,
            "load_started": load_started,
            "load_ended": load_ended,
            "last_fault": last_fault,
            "settled": settled,
            "settled_at": settled_at,
            "left": left,
            **database_report(load),
        }
    finally:
        print(f"counted in {time.monotonic() - checking:.1f}s", flush=True)


def recovery(faults: list[Fault], load: OrderLoad, probe: Probe) -> dict[str, list[float | None]]:
    """Seconds from each restart until the restarted thing served again, by kind: gunicorn, the
    next order answered 201; the task cluster (and PostgreSQL, Redis), the probe task enqueued
    right after the restart, behind the backlog, has run. None: not served within the bound
    (a probe lost to a later kill or the Redis restart)."""
    out: dict[str, list[float | None]] = {}
    answered = sorted(s.done for s in load.results if s.status == 201)
    for fault in faults:
        if fault.kind != "web" or not fault.restarted:
            continue
        after = [done for done in answered if done >= fault.restarted]
        out.setdefault("web", []).append(after[0] - fault.restarted if after else None)
    for kind, seconds in probe.results:
        out.setdefault(kind, []).append(seconds)
    return out


def database_report(load: OrderLoad) -> dict[str, Any]:
    from django.db.models import Max

    from orders.models import Order

    fresh_connection()
    db = {
        email: (number, status)
        for email, number, status in Order.objects.values_list(
            "customer__email", "number", "status"
        )
    }
    sent = {s.email: s for s in load.results}
    placed = [s for s in load.results if s.status == 201]
    missing = [s.number for s in placed if db.get(s.email, ("",))[0] != s.number]
    unanswered = {s.email for s in load.results if s.status == 0 or s.status >= 500}
    extra = [e for e in db if e not in sent or sent[e].status != 201]
    unexplained = [e for e in extra if e not in unanswered]
    last_delivered = Order.objects.filter(status="delivered").aggregate(at=Max("status_changed_at"))
    return {
        "orders_in_db": len(db),
        "missing": missing,
        "extra": extra,
        "unexplained": unexplained,
        "last_delivered": last_delivered["at"].timestamp() if last_delivered["at"] else 0.0,
        "totals": flow_totals(),
        "checks": correctness_checks(),
        "liveness": liveness_counts(),
    }


def report(args: argparse.Namespace, r: dict[str, Any], exits: Counter[str]) -> None:
    load: OrderLoad = r["load"]
    faults: list[Fault] = r["faults"]
    statuses = load.statuses()
    fivexx = [s for s in load.results if s.status >= 500]
    conn = [s for s in load.results if s.status == 0]
    other = {k: v for k, v in statuses.items() if k not in (201, 0) and k < 500}
    totals = r["totals"]
    kinds = Counter(f.kind for f in faults)
    external_checks, external = r["external"]
    refund_found, refunds = r["refunds"]
    outbound_found, outbound = r["outbound"]
    flows: Flows = r["flows"]
    stuck: dict[str, int] = r["stuck"]
    checks: list[Check] = [
        Check("orders answered 201 but not in the database", len(r["missing"])),
        Check("orders in the database never answered 201 nor lost", len(r["unexplained"])),
        Check("orders not delivered", totals["orders"] - totals["orders delivered"]),
        *r["checks"],
        *external_checks,
        *refund_found,
        *outbound_found,
        Check("unfinished work (webhooks, deliveries, sandbox)", sum(r["liveness"].values())),
        Check("rows stuck in processing or due after the sweepers ran", sum(stuck.values())),
        Check("external webhooks: none answered 200 (setup)", int(external["acked"] == 0)),
        Check("refunds: none succeeded (setup)", int(refunds["statuses"].get("succeeded", 0) == 0)),
        Check("outbound: nothing received (setup)", int(outbound["received"] == 0)),
    ]
    failed = [c for c in checks if not c.ok]
    trials = kinds.get("tasks", 0) + kinds.get("web", 0)
    settle_from_fault = r["settled_at"] - r["last_fault"]
    rows: list[tuple[str, Any]] = [
        ("profile", args.profile),
        (
            "load",
            f"orders {args.rate}/s for {args.duration:.0f}s, {len(load.results)} requests; "
            f"signed webhooks {args.webhook_rate}/s; refunds {args.refund_rate}/s",
        ),
        ("kill trials (web + task cluster)", trials),
        (
            "faults",
            ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items()))
            + (f"; unexpected exits {dict(exits)}" if exits else ""),
        ),
        ("orders placed (201)", statuses.get(201, 0)),
        ("orders in the database", r["orders_in_db"]),
        ("  of which the answer was lost (connection cut, 5xx)", len(r["extra"])),
        ("orders delivered", totals["orders delivered"]),
        (
            "API 5xx",
            f"{len(fivexx)} ({sum(in_shadow(s.at, faults) for s in fivexx)} during a fault)",
        ),
        (
            "API connection errors",
            f"{len(conn)} ({sum(in_shadow(s.at, faults) for s in conn)} during a fault)",
        ),
        ("API other answers", other or "none"),
        ("settled", "yes" if r["settled"] else f"NO, left: {r['left']}"),
        ("last fault -> all settled", f"{settle_from_fault:.0f}s"),
        ("last fault -> last order delivered", f"{r['last_delivered'] - r['last_fault']:.0f}s"),
        ("end of load -> all settled", f"{r['settled_at'] - r['load_ended']:.0f}s"),
        (
            "webhook events / sandbox webhooks sent",
            f"{totals['webhook events']} / {totals['sandbox webhooks sent']}",
        ),
        ("deliveries / notifications", f"{totals['deliveries']} / {totals['notifications']}"),
        (
            "external webhooks: sends / ids / ids answered 200 / of those stored",
            f"{external['sent']} / {external['ids']} / {external['acked']} / "
            f"{external['stored_of_acked']}",
        ),
        ("external webhooks: answers", external["statuses"]),
        ("external webhooks: kinds sent", external["kinds"]),
        ("external webhooks: stored by status", external["by_status"]),
        ("external webhooks: stored without a 200 (answer lost)", external["stored_without_200"]),
        ("external webhooks: taken again after a kill", external["taken_again"]),
        (
            "refunds requested / by status",
            f"{flows.refunder.requested} / {refunds['statuses']}"
            + (
                f" (refunder retried: {dict(flows.refunder.failed)})"
                if flows.refunder.failed
                else ""
            ),
        ),
        (
            "refunds whose provider call was repeated (same idempotency key, after a kill)",
            refunds["provider_calls_repeated"],
        ),
        (
            "outbound: messages / received ids / redelivered (same id) / retried",
            f"{outbound['messages']} / {outbound['received']} / {outbound['redelivered']} / "
            f"{outbound['retried']}",
        ),
        ("outbound: by status", outbound["by_status"]),
        ("Traceback lines in logs", r["tracebacks"]),
        ("peak queued tasks (main cluster)", r["peak_queued"]),
        ("load average (start -> end)", r["load_avg"]),
    ]
    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print("\n| time to recover after a restart | n | p50 | max | not served in bound |")
    print("|---|---|---|---|---|")
    for kind, values in sorted(r["recovery"].items()):
        served = [v for v in values if v is not None]
        p50 = f"{percentile(served, 50):.1f}s" if served else "-"
        top = f"{max(served):.1f}s" if served else "-"
        print(f"| {kind} | {len(values)} | {p50} | {top} | {len(values) - len(served)} |")
    print("\n| effects applied twice, by kind | count |\n|---|---|")
    for c in checks:
        if c.name.startswith("dup:"):
            print(f"| {c.name[5:]} | {c.value}{'' if c.ok else ' FAIL'} |")
    print("\n| correctness check | count |\n|---|---|")
    for c in checks:
        print(f"| {c.name} | {c.value}{'' if c.ok else ' FAIL'} |")
    if r["liveness"]:
        print(f"\nunfinished: {r['liveness']}")
    if any(stuck.values()):
        print(f"\nstuck: {stuck}")
    for name, events in r["errors"].items():
        if events:
            print(f"\n{name} log, most frequent errors: {events}")
    for name, lines in r["traceback_excerpts"].items():
        for line in lines:
            print(f"\n{name} log excerpt: {line}")
    for s in fivexx[:3]:
        print(f"\n5xx sample: {s.status} {s.detail[:200]}")
    if r["missing"]:
        print(f"\nmissing orders: {r['missing'][:20]}")
    if r["unexplained"]:
        print(f"\nunexplained orders: {r['unexplained'][:20]}")
    if args.json:
        counts = {
            "profile": args.profile,
            "trials": trials,
            "faults": dict(kinds),
            "orders_placed": statuses.get(201, 0),
            "orders_delivered": totals["orders delivered"],
            "settled": r["settled"],
            "external_webhooks": {k: external[k] for k in ("sent", "ids", "acked")}
            | {"stored": external["stored_of_acked"]},
            "refunds": refunds["statuses"],
            "outbound": {k: outbound[k] for k in ("messages", "received", "redelivered")},
            "stuck": stuck,
            "recovery": r["recovery"],
            "checks": {c.name: c.value for c in checks},
            "failed": [c.name for c in failed],
        }
        Path(args.json).write_text(json.dumps(counts, indent=2))
    if failed:
        print(f"\nFAILED: {[(c.name, c.value) for c in failed]}")
        raise SystemExit(1)
    print("\nall correctness checks passed")


if __name__ == "__main__":
    main()
