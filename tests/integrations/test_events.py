import pytest
from django.db import transaction

from integrations.events import domain_event_committed, record_event, render_summary
from integrations.exceptions import UnknownEventType
from integrations.models import DomainEvent
from orders.services import order_cancel
from tests.factories import events_for, make_order


def test_event_is_written_in_the_callers_transaction(customer):
    before = DomainEvent.objects.count()
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        record_event(type="note.added", customer=customer, data={"excerpt": "x"})
        assert DomainEvent.objects.count() == before + 1
        raise RuntimeError("boom")
    assert DomainEvent.objects.count() == before


def test_unknown_event_type_is_refused(customer):
    before = DomainEvent.objects.count()
    with pytest.raises(UnknownEventType), transaction.atomic():
        record_event(type="nope.never", customer=customer)
    assert DomainEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_outside_atomic_block_is_refused():
    from tests.factories import make_customer

    customer = make_customer()
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        record_event(type="note.added", customer=customer)


@pytest.mark.django_db(transaction=True)
def test_signal_announces_only_after_commit_and_never_after_rollback():
    from tests.factories import make_customer

    customer = make_customer()
    seen: list[int] = []

    def receiver(sender, event, **kwargs):
        seen.append(event.pk)

    domain_event_committed.connect(receiver)
    try:
        with transaction.atomic():
            event = record_event(type="note.added", customer=customer, data={"excerpt": "a"})
            assert seen == []
        assert seen == [event.pk]
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            record_event(type="note.added", customer=customer, data={"excerpt": "b"})
            1 / 0  # noqa: B018
        assert seen == [event.pk]
    finally:
        domain_event_committed.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_a_failing_subscriber_does_not_break_the_service_or_other_subscribers():
    from tests.factories import make_customer

    customer = make_customer()
    seen = []

    def broken(sender, event, **kwargs):
        raise RuntimeError("subscriber down")

    def healthy(sender, event, **kwargs):
        seen.append(event.type)

    domain_event_committed.connect(broken)
    domain_event_committed.connect(healthy)
    try:
        with transaction.atomic():
            record_event(type="note.added", customer=customer, data={"excerpt": "c"})
        assert seen == ["note.added"]
    finally:
        domain_event_committed.disconnect(broken)
        domain_event_committed.disconnect(healthy)


def test_events_are_append_only(customer):
    event = DomainEvent.objects.filter(customer=customer).first()
    assert event is not None
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        DomainEvent.objects.filter(pk=event.pk).update(type="x.y")


def test_every_state_change_of_a_service_records_one_event(db):
    order = make_order(amount=2500)
    before = events_for(order).count()
    order_cancel(order=order, reason="Customer asked")
    events = events_for(order).filter(type="order.cancelled")
    assert events.count() == 1
    assert events_for(order).count() == before + 1
    assert render_summary(events.get()) == f"{order.number} cancelled: Customer asked"


def test_summary_formats_money_exactly(db):
    order = make_order(amount=199_990)
    event = events_for(order).get(type="order.placed")
    assert render_summary(event) == f"{order.number}: R$ 1.999,90, 1 item(s)"


def test_provider_calls_are_append_only(db):
    from integrations.models import ProviderCall

    call = ProviderCall.objects.create(
        provider="sandbox", operation="ping", method="GET", url="/", outcome="success"
    )
    with pytest.raises(TypeError, match="append-only"):
        call.save()
    with pytest.raises(TypeError, match="append-only"):
        ProviderCall.objects.filter(pk=call.pk).update(outcome="timeout")
