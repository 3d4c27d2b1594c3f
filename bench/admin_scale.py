"""The admin over a large database: every changelist, filter, search and the hot change pages.

Run against a database filled by ``manage.py seed_scale``::

    DATABASE_URL=sqlite:///var/scale.sqlite3 .venv/bin/python -m bench.admin_scale
    .venv/bin/python -m bench.admin_scale --database-url postgres://... [--requests 20]

In process, through Django's test client signed in as a superuser (no HTTP, no gunicorn: the
figures are the view, its queries and the template). Each case gets one warm-up request, then
``--requests`` timed ones (p50, p95) and its queries counted on the last. A case whose warm-up
takes longer than ``--slow-after`` seconds is timed over 3 requests only (say so in the output),
so a run before the fixes ends in minutes. Cases:

- every changelist in ``admin.site._registry`` with its default ordering; each choice of each of
  its filters (at most ``--max-choices`` per filter); the date drill-down when it has one;
- searches by exact identifiers (e-mail, phone, CPF, order number, provider ids, tracking code,
  event id) and by part of a name, on the changelists staff search;
- the customer page (a typical customer and the one with the most events) and an order page.

Goals (issue 11): changelists and filters p95 <= 300 ms, exact-identifier search <= 100 ms,
partial-name search <= 300 ms, customer and order pages <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

GOALS_MS = {
    "changelist": 300,
    "filter": 300,
    "date": 300,
    "exact": 100,
    "partial": 300,
    "page": 150,
}


@dataclass
class Case:
    kind: str  # a key of GOALS_MS
    name: str
    url: str


@dataclass
class Result:
    kind: str
    name: str
    url: str
    status: int
    p50_ms: float
    p95_ms: float
    queries: int
    requests: int

    @property
    def goal_ms(self) -> int:
        return GOALS_MS[self.kind]

    @property
    def met(self) -> bool:
        return self.status == 200 and self.p95_ms <= self.goal_ms


def setup_django(database_url: str | None) -> None:
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # Static URLs without a collectstatic manifest (the bench measures views, not assets).
    storages = dict(settings.STORAGES)
    storages["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = storages


def sample(model: Any, field: str, **filters: Any) -> str:
    """A value of ``field`` from a row in the middle of the table (not the newest, which a
    warm cache would favour)."""
    rows = model.objects.filter(**filters).exclude(**{field: ""}).order_by("pk")
    top = rows.order_by("-pk").values_list("pk", flat=True).first()
    if top is None:
        return ""
    value = rows.filter(pk__lte=top // 2 or top).order_by("-pk").values_list(field, flat=True)
    return str(value.first() or rows.values_list(field, flat=True).first() or "")


def search_cases() -> Iterator[Case]:
    from django.urls import reverse

    from accounts.models import Customer, CustomerIdentifier
    from integrations.models import Delivery, DomainEvent, ProviderCall, WebhookEvent
    from notifications.models import Notification
    from orders.models import Order
    from payments.models import Dispute, Payment, Refund
    from shipping.models import Shipment

    def url(model: Any, term: str) -> str:
        opts = model._meta
        return (
            reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            + "?"
            + urlencode({"q": term})
        )

    email = sample(Customer, "email")
    phone = sample(Customer, "phone")
    document = sample(Customer, "tax_document")
    cpf = f"{document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}" if document else ""
    number = sample(Order, "number")
    payment_id = sample(Payment, "provider_payment_id")
    refund_id = sample(Refund, "provider_refund_id")
    tracking = sample(Shipment, "tracking_code")
    shipment_id = sample(Shipment, "provider_shipment_id")
    message_id = sample(Notification, "provider_message_id")
    recipient = sample(Notification, "recipient")
    crm_id = sample(CustomerIdentifier, "external_id")
    event_id = sample(WebhookEvent, "event_id")
    object_id = sample(WebhookEvent, "object_id")
    dispute_id = sample(Dispute, "provider_dispute_id")
    idempotency_key = sample(ProviderCall, "idempotency_key")
    domain_event = str(DomainEvent.objects.order_by("-pk").values_list("pk", flat=True).first())
    subject_id = sample(DomainEvent, "subject_id")
    last_name = (sample(Customer, "name").split() or ["Silva"])[-1]
    first_name = (sample(Customer, "name").split() or ["Ana"])[0]

    exact = [
        (Customer, "e-mail", email),
        (Customer, "e-mail, upper case", email.upper()),
        (Customer, "phone", phone),
        (Customer, "CPF with punctuation", cpf),
        (Customer, "order number", number),
        (Customer, "payment id", payment_id),
        (Customer, "refund id", refund_id),
        (Customer, "tracking code", tracking),
        (Customer, "message id", message_id),
        (Customer, "CRM id", crm_id),
        (Order, "order number", number),
        (Order, "order number, lower case", number.lower()),
        (Order, "customer e-mail", email),
        (Payment, "payment id", payment_id),
        (Payment, "order number", number),
        (Refund, "refund id", refund_id),
        (Refund, "order number", number),
        (Shipment, "tracking code", tracking),
        (Shipment, "tracking code, lower case", tracking.lower()),
        (Shipment, "carrier shipment id", shipment_id),
        (Shipment, "order number", number),
        (Notification, "recipient", recipient),
        (Notification, "message id", message_id),
        (Dispute, "dispute id", dispute_id),
        (WebhookEvent, "event id", event_id),
        (WebhookEvent, "object id", object_id),
        (ProviderCall, "idempotency key", idempotency_key),
        (Delivery, "domain event id", domain_event),
        (DomainEvent, "subject id", subject_id),
    ]
    for model, label, term in exact:
        if term:
            yield Case("exact", f"{model._meta.verbose_name_plural}: {label}", url(model, term))
    partial = [
        (Customer, "last name", last_name),
        (Customer, "first and last name", f"{first_name} {last_name}"),
        (Customer, "no match", "Zzyzx Quux"),
        (Order, "customer last name", last_name),
        (Order, "no customer of that name", "Zzyzx Quux"),
    ]
    for model, label, term in partial:
        yield Case("partial", f"{model._meta.verbose_name_plural}: {label}", url(model, term))


def page_cases() -> Iterator[Case]:
    from django.db.models import Count
    from django.urls import reverse

    from accounts.models import Customer
    from integrations.models import DomainEvent
    from orders.models import Order
    from shipping.models import Shipment

    typical = Customer.objects.order_by("pk").values_list("pk", flat=True)
    count = typical.count()
    if count:
        middle = typical[count // 2]
        yield Case(
            "page",
            "customer page (typical)",
            reverse("admin:accounts_customer_change", args=[middle]),
        )
    busiest = (
        DomainEvent.objects.filter(customer__isnull=False)
        .values("customer")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if busiest:
        yield Case(
            "page",
            f"customer page ({busiest['n']:,} events)",
            reverse("admin:accounts_customer_change", args=[busiest["customer"]]),
        )
    shipped = Shipment.objects.order_by("-pk").values_list("order_id", flat=True).first()
    order = shipped or Order.objects.order_by("-pk").values_list("pk", flat=True).first()
    if order:
        yield Case("page", "order page", reverse("admin:orders_order_change", args=[order]))


def changelist_cases(user: Any, max_choices: int) -> Iterator[Case]:
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    for model, model_admin in sorted(
        admin.site._registry.items(), key=lambda kv: kv[0]._meta.label
    ):
        opts = model._meta
        base = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        name = str(opts.verbose_name_plural)
        yield Case("changelist", name, base)
        request = RequestFactory().get(base)
        request.user = user
        changelist = model_admin.get_changelist_instance(request)
        for spec in changelist.filter_specs:
            choices = [c for c in spec.choices(changelist) if not c.get("selected")]
            for choice in choices[:max_choices]:
                query = choice["query_string"]
                yield Case("filter", f"{name}: {spec.title} = {choice['display']}", base + query)
        if model_admin.date_hierarchy:
            field = model_admin.date_hierarchy
            latest = (
                model._default_manager.order_by(f"-{field}").values_list(field, flat=True).first()
            )
            if latest is not None:
                params = {f"{field}__year": latest.year}
                yield Case("date", f"{name}: {latest.year}", f"{base}?{urlencode(params)}")
                params[f"{field}__month"] = latest.month
                yield Case("date", f"{name}: {latest:%Y-%m}", f"{base}?{urlencode(params)}")
                params[f"{field}__day"] = latest.day
                yield Case("date", f"{name}: {latest:%Y-%m-%d}", f"{base}?{urlencode(params)}")


def measure(client: Any, case: Case, *, requests: int, slow_after: float) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    response = client.get(case.url)
    if time.perf_counter() - started > slow_after:
        requests = min(requests, 3)
    timings = []
    with CaptureQueriesContext(connection) as captured:
        for _ in range(requests):
            before = len(captured.captured_queries)
            started = time.perf_counter()
            response = client.get(case.url)
            timings.append((time.perf_counter() - started) * 1000)
            queries = len(captured.captured_queries) - before
    timings.sort()
    p95 = (
        statistics.quantiles(timings, n=20, method="inclusive")[18]
        if len(timings) > 1
        else timings[0]
    )
    return Result(
        kind=case.kind,
        name=case.name,
        url=case.url,
        status=response.status_code,
        p50_ms=round(statistics.median(timings), 1),
        p95_ms=round(p95, 1),
        queries=queries,
        requests=requests,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--slow-after", type=float, default=1.0, help="seconds")
    parser.add_argument("--max-choices", type=int, default=8, help="per filter")
    parser.add_argument("--only", default="", help="cases whose name contains this")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args(argv)
    setup_django(args.database_url)

    from django.db import connection
    from django.test import Client

    from accounts.models import User

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    cases = [*changelist_cases(user, args.max_choices), *search_cases(), *page_cases()]
    cases = [c for c in cases if args.only.lower() in c.name.lower()]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{len(cases)} cases on {connection.vendor}; load average {load}", file=sys.stderr)
    results = []
    for case in cases:
        result = measure(client, case, requests=args.requests, slow_after=args.slow_after)
        results.append(result)
        flag = "ok " if result.met else "OVER"
        print(
            f"{flag} {result.kind:<10} {result.p50_ms:8.1f} {result.p95_ms:8.1f} ms "
            f"{result.queries:3d} q  {result.name}",
            file=sys.stderr,
        )
    print("| kind | case | p50 ms | p95 ms | queries | goal ms | met |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        shown = f"{r.p95_ms:,.0f}" + ("" if r.requests > 3 else f" ({r.requests} req)")
        met = "yes" if r.met else ("**no**" if r.status == 200 else f"**{r.status}**")
        print(
            f"| {r.kind} | {r.name} | {r.p50_ms:,.0f} | {shown} | {r.queries} | {r.goal_ms} | {met} |"
        )
    over = [r for r in results if not r.met]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{len(results) - len(over)} of {len(results)} cases within their goal.")
    print(f"Load average at the end: {load}.")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([{**asdict(r), "goal_ms": r.goal_ms} for r in results], out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
