"""The notification family's fact pipeline: any permutation of a messaging provider's status
facts about one message, with duplicates, ends in the same state.

Each fact is a sandbox-messaging body read by the endpoint's own ``parse`` and run through its
handler, which maps it to a ``MessageStatusFact`` that ``message_status_fact_apply`` applies
under the notification's watermark.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent
from notifications.channels.sandbox.webhooks import endpoint
from notifications.models import Notification, NotificationChannel, NotificationStatus
from notifications.services import notification_mark_sent, notification_queue
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
N = NotificationStatus
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)
# What a provider may say after our send, in the order it happens.
TIMELINES = [[N.DELIVERED], [N.READ], [N.DELIVERED, N.READ], [N.FAILED]]


def _deliver(notification: Notification, status: str, minutes: int) -> None:
    data = {"reference": f"notification:{notification.pk}", "id": f"sbx_msg_{notification.pk}"}
    if status == N.FAILED:
        data["error"] = "Number not on WhatsApp"
    body = {
        "type": f"message.{status}",
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        "data": data,
    }
    parsed = endpoint.parse(
        headers={"webhook-id": f"msg_{next(_ids)}"}, body=json.dumps(body).encode()
    )
    handler = endpoint.handler_for(parsed.event_type)
    assert handler is not None
    event = WebhookEvent(provider=endpoint.name, event_id=parsed.event_id, event_type="x")
    with transaction.atomic():
        handler(event, parsed)


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.generate],
)
@given(facts=st.sampled_from(TIMELINES), data=st.data())
def test_any_order_of_message_status_facts_ends_in_the_same_state(
    facts: list[str], data: st.DataObject
) -> None:
    customer = make_customer(phone="+5511987654321")
    notification = notification_queue(
        customer=customer, channel=NotificationChannel.WHATSAPP, template="t", body="Hello"
    )
    notification = notification_mark_sent(
        notification=notification,
        provider="sandbox",
        provider_message_id=f"sbx_msg_{notification.pk}",
        occurred_at=T0,
    )
    repeats = data.draw(st.lists(st.sampled_from(range(len(facts))), max_size=3))
    for i in data.draw(st.permutations([*range(len(facts)), *repeats])):
        _deliver(notification, facts[i], i + 1)

    notification.refresh_from_db()
    minute = {status: T0 + timedelta(minutes=i + 1) for i, status in enumerate(facts)}
    assert notification.status == facts[-1]
    assert notification.provider_updated_at == minute[facts[-1]]
    assert notification.delivered_at == minute.get(N.DELIVERED, minute.get(N.READ))
    assert notification.read_at == minute.get(N.READ)
    assert notification.error == ("Number not on WhatsApp" if N.FAILED in facts else "")
