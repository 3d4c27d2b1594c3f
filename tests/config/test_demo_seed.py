import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.access.roles import ROLES
from accounts.models import Customer, User
from config.demo import DEMO_EMAIL_DOMAIN, seed_demo
from integrations.models import DomainEvent
from notifications.models import Notification
from orders.models import Order, OrderStatus
from payments.models import Dispute, DisputeStatus, Refund, RefundStatus
from shipping.models import Shipment


def _fingerprint():
    return (
        sorted(Order.objects.values_list("number", "status", "total_amount", "customer__email")),
        sorted(Refund.objects.values_list("payment__order__number", "status", "amount")),
        sorted(Dispute.objects.values_list("provider_dispute_id", "status")),
        DomainEvent.objects.count(),
        Notification.objects.count(),
    )


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        first = seed_demo()
        yield first
        # Module-scoped data lives outside the per-test transaction: remove it for later modules.
        from django.contrib.contenttypes.models import ContentType

        call_command("flush", "--no-input")
        ContentType.objects.clear_cache()


@pytest.mark.django_db
def test_seed_creates_the_promised_volume_across_every_status(seeded):
    assert seeded.created
    assert Customer.objects.filter(email__endswith=DEMO_EMAIL_DOMAIN).count() == 50
    assert Order.objects.count() == 200
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
