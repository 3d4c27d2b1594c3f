import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils.html import escape

from accounts.access.roles import ROLES
from accounts.models import Customer, User
from config.demo import DEMO_EMAIL_DOMAIN, DEMO_ORDERS, seed_demo
from config.demo_addresses import demo_address
from config.demo_operations import MAX_OUTAGE_ORDERS
from integrations.models import (
    CircuitBreaker,
    Delivery,
    DomainEvent,
    ProviderCall,
    TaskHeartbeat,
    WebhookEvent,
    WebhookRejection,
)
from notifications.models import Notification
from orders.models import Order, OrderStatus
from payments.models import (
    Dispute,
    DisputeStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from shipping.models import Shipment, TrackingEvent


def _fingerprint():
    return (
        sorted(Order.objects.values_list("number", "status", "total_amount", "customer__email")),
        sorted(Refund.objects.values_list("payment__order__number", "status", "amount")),
        sorted(Dispute.objects.values_list("provider_dispute_id", "status")),
        DomainEvent.objects.count(),
        Notification.objects.count(),
        sorted(WebhookEvent.objects.values_list("event_id", "status", "attempts")),
        WebhookRejection.objects.count(),
        ProviderCall.objects.count(),
        sorted(CircuitBreaker.objects.values_list("provider", "state")),
        sorted(Delivery.objects.values_list("subscriber", "status", "last_error")),
    )


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        first = seed_demo()
        yield first
        # Module-scoped data lives outside the per-test transaction: remove it for later modules.
        from django.contrib.contenttypes.models import ContentType

        from tests.support.journal import journal_wipe

        journal_wipe()  # the journal's triggers refuse the flush's DELETE on SQLite
        call_command("flush", "--no-input")
        ContentType.objects.clear_cache()


@pytest.mark.django_db
def test_seed_creates_the_promised_volume_across_every_status(seeded):
    assert seeded.created
    assert Customer.objects.filter(email__endswith=DEMO_EMAIL_DOMAIN).count() == 50
    # The 200 orders of the story, plus the few placed today during the Stripe/Asaas outage.
    assert Order.objects.filter(payments__provider__in=["stripe", "asaas"]).distinct().count() == (
        Order.objects.count() - DEMO_ORDERS
    )
    assert 0 < Order.objects.count() - DEMO_ORDERS <= 2 * MAX_OUTAGE_ORDERS + 6
    assert set(Order.objects.values_list("status", flat=True)) == set(OrderStatus.values)
    assert Refund.objects.filter(status=RefundStatus.REQUESTED).exists()  # finance's queue
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).exists()
    assert Shipment.objects.exclude(tracking_code="").exists()
    assert Notification.objects.exists()
    assert DomainEvent.objects.filter(kind="usage").exists()


@pytest.mark.django_db
def test_finance_finds_pending_requests_some_half_approved_and_open_disputes(seeded, settings):
    pending = Refund.objects.filter(status=RefundStatus.REQUESTED)
    assert pending.count() >= 5
    large = pending.filter(amount__gt=settings.REFUND_DUAL_APPROVAL_THRESHOLD)
    assert large.count() >= 2
    for refund in large:
        approvals = list(refund.approvals.all())
        assert len(approvals) == 1 and approvals[0].approver_id != refund.requested_by_id
    assert not pending.filter(
        amount__lte=settings.REFUND_DUAL_APPROVAL_THRESHOLD, approvals__isnull=False
    ).exists()
    for refund in Refund.objects.filter(status=RefundStatus.SUCCEEDED):
        needed = 2 if refund.amount > settings.REFUND_DUAL_APPROVAL_THRESHOLD else 1
        assert refund.approvals.count() == needed

    disputes = Dispute.objects.filter(status=DisputeStatus.NEEDS_RESPONSE)
    assert disputes.count() >= 1
    dispute = disputes.select_related("payment__order").first()
    assert dispute is not None and dispute.evidence_due_by is not None
    assert dispute.provider == "sandbox" and dispute.provider_dispute_id.startswith("sbx_dp_")
    assert dispute.evidence_due_by > dispute.opened_at
    assert dispute.payment.order.status == OrderStatus.DELIVERED
    assert dispute.payment.order.is_flagged
    assert DomainEvent.objects.filter(type="dispute.opened").count() == Dispute.objects.count()


@pytest.mark.django_db
def test_every_customer_timeline_tells_a_story(seeded):
    for customer in Customer.objects.all():
        kinds = set(DomainEvent.objects.filter(customer=customer).values_list("kind", flat=True))
        assert {"customer", "order", "usage", "notification"} <= kinds, customer


@pytest.mark.django_db
def test_seed_is_idempotent(seeded):
    before = _fingerprint()
    again = seed_demo()
    call_command("seed_demo", verbosity=0)
    assert not again.created
    assert _fingerprint() == before


@pytest.mark.django_db
def test_one_demo_login_per_role_opens_the_admin(seeded, client, settings):
    for role in ROLES:
        user = User.objects.get(username=role)
        assert user.groups.filter(name=role).exists()
        assert client.login(username=role, password=settings.DEMO_PASSWORD), role
        response = client.get(reverse("admin:accounts_customer_changelist"))
        assert response.status_code == 200, role
        client.logout()


# Changelists that may stay empty after seeding: plumbing nobody works from, or queues that are
# empty when all is well. Every other registered changelist must show rows.
MAY_BE_EMPTY = {
    "account.emailaddress": "allauth: filled by SAML sign-ins, none in the demo",
    "socialaccount.socialaccount": "allauth: filled by SAML sign-ins, none in the demo",
    "socialaccount.socialapp": "allauth: SSO is configured through settings, not rows",
    "socialaccount.socialtoken": "allauth: tokens are not stored (SOCIALACCOUNT_STORE_TOKENS)",
    "mfa.authenticator": "allauth: break-glass TOTP, set up by each administrator",
    "django_q.success": "task cluster: written when the clusters run, after seeding",
    "django_q.failure": "task cluster: written when the clusters run, after seeding",
    "django_q.ormq": "task cluster: the broker's queue, empty once workers pick tasks up",
    "accounts.apikey": "shown once when created: a seeded key would be a key nobody has",
    "integrations.providercredential": "OAuth tokens: written when a real carrier is authorised",
    "integrations.webhookendpoint": (
        "outbound webhooks: the business's own URLs, and a secret shown once (a seeded endpoint "
        "would sign for nobody and fail until disabled)"
    ),
    "integrations.webhookmessage": "outbound webhooks: written for endpoints, none seeded",
}


@pytest.mark.django_db
def test_every_changelist_staff_use_has_rows(seeded, client):
    from django.contrib import admin

    client.force_login(User.objects.get(username="admin"))
    empty = []
    for model in admin.site._registry:
        label = model._meta.label_lower
        if label in MAY_BE_EMPTY:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, label
        if response.context["cl"].result_count == 0:
            empty.append(label)
    assert empty == []
    # django-q2 registers its queue's admin only with the ORM broker (the embedded profile).
    only_some_profiles = {"django_q.ormq"}
    registered = {m._meta.label_lower for m in admin.site._registry}
    assert set(MAY_BE_EMPTY) - only_some_profiles <= registered


@pytest.mark.django_db
def test_operations_screens_show_every_status(seeded):
    statuses = set(WebhookEvent.objects.values_list("status", flat=True))
    assert {"processed", "ignored", "failed", "dead"} <= statuses
    for event in WebhookEvent.objects.filter(status="failed"):
        assert event.last_error and event.traceback and event.next_attempt_at is not None
    dead = WebhookEvent.objects.get(status="dead")
    assert dead.attempts == settings.WEBHOOK_MAX_ATTEMPTS and dead.last_error
    assert dead.next_attempt_at is None
    rejection = WebhookRejection.objects.get(reason="No matching signature found")
    assert rejection.status_code == 401 and rejection.provider == "sandbox-payments"

    calls = ProviderCall.objects.all()
    assert set(calls.values_list("provider", flat=True)) >= {"stripe", "asaas"}
    assert calls.filter(outcome="success").exists()
    assert calls.filter(outcome="timeout").exists()
    assert calls.filter(outcome="http_error", status_code__gte=500).exists()
    assert calls.filter(outcome="http_error", status_code__gte=400, status_code__lt=500).exists()
    assert calls.filter(outcome="circuit_open").exists()
    assert len(set(calls.values_list("provider", "operation"))) >= 2
    assert dict(CircuitBreaker.objects.values_list("provider", "state")) == {
        "asaas": "open",
        "stripe": "half_open",
    }
    for status in ("succeeded", "failed", "dead"):
        rows = Delivery.objects.filter(status=status)
        assert rows.exists(), status
        if status != "succeeded":
            assert all(row.last_error for row in rows), status
    assert TaskHeartbeat.objects.count() == 2
    assert ReconciliationException.objects.exists()


@pytest.mark.django_db
def test_nothing_is_dated_in_the_future(seeded):
    from django.utils import timezone

    now = timezone.now()
    assert not DomainEvent.objects.filter(occurred_at__gt=now).exists()
    assert not DomainEvent.objects.filter(recorded_at__gt=now).exists()
    assert not WebhookEvent.objects.filter(received_at__gt=now).exists()
    assert not WebhookEvent.objects.filter(occurred_at__gt=now).exists()
    assert not ProviderCall.objects.filter(created_at__gt=now).exists()
    assert not Delivery.objects.filter(created_at__gt=now).exists()
    assert not WebhookRejection.objects.filter(received_at__gt=now).exists()
    # The timelines' own times, each tracking scan and every message's times.
    assert not TrackingEvent.objects.filter(occurred_at__gt=now).exists()
    assert not TrackingEvent.objects.filter(recorded_at__gt=now).exists()
    for field in ("created_at", "sent_at", "delivered_at", "read_at"):
        assert not Notification.objects.filter(**{f"{field}__gt": now}).exists(), field
    assert TrackingEvent.objects.exists()
    assert Notification.objects.filter(read_at__isnull=False).exists()


@pytest.mark.django_db
def test_the_demo_timelines_are_in_causal_order(seeded):
    """Seeded history is recorded at its own time, so each order's timeline reads in the order
    things happened: placed first, its messages after the facts that sent them."""
    from orders.selectors import order_timeline

    orders = Order.objects.filter(status=OrderStatus.DELIVERED).order_by("id")[:10]
    assert orders
    for order in orders:
        entries = list(reversed(order_timeline(order=order)))  # oldest first
        assert entries[0].type == "order.placed", order.number
        types = [e.type for e in entries]
        assert types.index("payment.succeeded") < types.index("shipment.delivered")
        assert "notification.queued" in types
        stamps = [(e.recorded_at, e.id) for e in entries]
        assert stamps == sorted(stamps)
    assert Notification.objects.filter(order__isnull=False).exists()


@pytest.mark.django_db
def test_seeded_orders_ship_to_the_customers_home_and_the_order_page_shows_it(seeded, client):
    assert not Order.objects.filter(ship_to_postal_code="").exists()
    order = Order.objects.filter(shipments__isnull=False).select_related("customer").first()
    assert order is not None
    home = demo_address(order.customer)
    assert (order.ship_to_name, order.ship_to_city) == (order.customer.name, home.city)
    client.force_login(User.objects.get(username="support"))
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    shown = page.split('id="hub-address"', 1)[1].split("</address>", 1)[0]
    assert escape(home.street) in shown
    assert escape(home.city) in shown
    assert home.postal_code.replace("-", "") in shown
