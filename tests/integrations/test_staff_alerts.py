"""Staff alerts (issue 13 item 9): each kind told to Slack (a local fake speaking Slack's
incoming webhook and chat.postMessage) and by e-mail to the role's group, after commit, one per
object per window with the repeats counted, and nothing lost while Slack is down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.access.roles import sync_roles
from integrations.alerts.services import (
    staff_alert_breaker_opened,
    staff_alert_endpoint_disabled,
    staff_alert_reconciliation_exception,
    staff_alerts_send_due,
)
from integrations.alerts.slack import SlackClient
from integrations.deliveries.relay import deliver_due, delivery_run
from integrations.models import (
    CircuitBreaker,
    Delivery,
    DomainEvent,
    ProviderCall,
    SendStatus,
    StaffAlert,
)
from integrations.outbound.breaker import breaker_permit, breaker_record
from payments.disputes import dispute_apply_fact
from tests.factories import make_paid_payment, make_staff
from tests.support.fake_slack import BOT_TOKEN, WEBHOOK_PATH, FakeSlack, serve_fake_slack
from tests.support.outbound import Sleeps, fast_outbound


@pytest.fixture
def fake_slack(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """The fake, configured as the incoming webhook. New alerts are sent by their task, run
    inline by the test settings, through the real client (no proxy between it and loopback)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)
    with serve_fake_slack() as fake:
        settings.SLACK_ENABLED = True
        settings.SLACK_WEBHOOK_URL = fake.webhook_url
        settings.SLACK_BOT_TOKEN = ""
        settings.SLACK_API_BASE = fake.api_base
        settings.OPS_ALERT_BASE_URL = "https://switchboard.example.test"
        yield fake


@pytest.fixture
def slack() -> SlackClient:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    return SlackClient(session=session, sleep=Sleeps())


@pytest.fixture
def ops(db: None) -> Any:
    return make_staff("olga", role="ops", email="olga@example.test")


@pytest.fixture
def finance(db: None) -> Any:
    return make_staff("fabio", role="finance", email="fabio@example.test")


def _open_breaker(provider: str) -> None:
    for _ in range(4):
        breaker_record(provider, failed=True)


def test_a_breaker_opening_is_told_to_ops_on_slack_and_by_email_after_commit(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, settings: Any, capture: Any
) -> None:
    settings.CIRCUIT_BREAKER_MIN_CALLS = 2
    make_staff("sara", role="support", email="sara@example.test")  # not told

    with capture(execute=True) as callbacks, transaction.atomic():
        _open_breaker("zapi")
        assert not StaffAlert.objects.exists()  # nothing inside the transaction
    assert callbacks

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.object_key, alert.role) == ("breaker_open", "breaker:zapi", "ops")
    assert (alert.slack_status, alert.email_status) == (SendStatus.SENT, SendStatus.SENT)
    (posted,) = fake_slack.posted
    assert posted["text"] == "Circuit breaker open: zapi"
    assert posted["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Circuit breaker open: zapi"},
    }
    button = posted["blocks"][-1]["elements"][0]
    assert button["url"].startswith("https://switchboard.example.test/admin/integrations/")
    (email,) = mail.outbox
    assert email.to == ["olga@example.test"]
    assert email.subject == "[Circuit breaker opened] Circuit breaker open: zapi"


def test_a_rolled_back_cause_raises_no_alert(fake_slack: FakeSlack, ops: Any, capture: Any) -> None:
    with capture(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        staff_alert_breaker_opened(provider="zapi")
        raise RuntimeError("the change is rolled back")

    assert not StaffAlert.objects.exists()
    assert fake_slack.posted == [] and mail.outbox == []


def test_a_breaker_flapping_ten_times_sends_one_alert_and_counts_the_rest(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, settings: Any, capture: Any
) -> None:
    settings.CIRCUIT_BREAKER_MIN_CALLS = 2
    with capture(execute=True):
        _open_breaker("asaas")
        for _ in range(9):  # the cool-down passes, the trial call fails: open again
            CircuitBreaker.objects.filter(provider="asaas").update(
                opened_at=timezone.now() - timedelta(hours=1)
            )
            assert breaker_permit("asaas").trial
            breaker_record("asaas", failed=True, trial=True)

    alert = StaffAlert.objects.get()
    assert alert.repeats == 9
    assert len(fake_slack.posted) == 1 and len(mail.outbox) == 1

    # After the window, the next opening is a new alert that says how many were held back.
    StaffAlert.objects.update(raised_at=timezone.now() - timedelta(hours=1))
    with capture(execute=True):
        staff_alert_breaker_opened(provider="asaas")

    newest = StaffAlert.objects.get(current=True)
    assert newest.pk != alert.pk and newest.previous_repeats == 9
    assert len(fake_slack.posted) == 2
    assert "9 more time(s) since the last alert" in json.dumps(fake_slack.posted[1]["blocks"])
    assert "9 more time(s) since the last alert" in mail.outbox[1].body


def test_dedupe_is_per_object(fake_slack: FakeSlack, ops: Any, capture: Any) -> None:
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")
        staff_alert_breaker_opened(provider="twilio")
        staff_alert_breaker_opened(provider="zapi")

    assert sorted(StaffAlert.objects.values_list("object_key", "repeats")) == [
        ("breaker:twilio", 0),
        ("breaker:zapi", 1),
    ]


def test_a_delivery_gone_dead_is_told_to_ops(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, capture: Any
) -> None:
    make_paid_payment()
    event = DomainEvent.objects.order_by("id").first()
    assert event is not None
    delivery = Delivery.objects.create(event=event, subscriber="removed.subscriber")

    with capture(execute=True):
        assert delivery_run(delivery_id=delivery.pk).status == Delivery.Status.DEAD

    alert = StaffAlert.objects.get(kind="delivery_dead")
    assert alert.object_key == f"delivery:{delivery.pk}"
    assert alert.title == f"Delivery dead: removed.subscriber for {event.type} #{event.pk}"
    assert "is not registered" in alert.text
    assert fake_slack.posted[0]["text"] == alert.title
    assert mail.outbox[0].to == ["olga@example.test"]


def test_an_endpoint_disabled_is_told_to_ops_by_the_entry_point_issue_14_calls(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, capture: Any
) -> None:
    with capture(execute=True):
        staff_alert_endpoint_disabled(
            endpoint_id=7,
            endpoint_url="https://hooks.example.test/in?token=abc",
            reason="410 Gone for 3 days",
        )

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.role, alert.object_key) == ("endpoint_disabled", "ops", "endpoint:7")
    assert "token=abc" not in alert.title + alert.text
    assert "410 Gone for 3 days" in fake_slack.posted[0]["blocks"][1]["text"]["text"]
    assert mail.outbox[0].subject.startswith("[Delivery endpoint disabled]")


def test_a_dispute_opened_is_told_to_finance_on_slack_once(
    fake_slack: FakeSlack, slack: SlackClient, finance: Any, ops: Any, capture: Any
) -> None:
    payment = make_paid_payment()
    dispute_apply_fact(
        payment=payment,
        provider="sandbox",
        provider_dispute_id="dp_1",
        status="needs_response",
        amount=5_000,
        currency="BRL",
        reason="fraudulent",
    )
    with capture(execute=True):
        deliver_due()
        deliver_due()

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.role) == ("dispute_opened", "finance")
    assert alert.title == f"Dispute opened on {payment.order.number}: R$ 50,00"
    assert [p["text"] for p in fake_slack.posted] == [alert.title]
    # Finance's e-mail is the finance notice's (evidence due date): not a second one.
    assert alert.email_status == SendStatus.OFF
    staff_mail = [m for m in mail.outbox if "fabio@example.test" in m.to]
    assert [m.subject.split(":")[0] for m in staff_mail] == [
        f"Dispute opened on {payment.order.number}"
    ]


def test_a_reconciliation_exception_is_told_to_finance_by_the_entry_point(
    fake_slack: FakeSlack, slack: SlackClient, finance: Any, capture: Any
) -> None:
    with capture(execute=True):
        staff_alert_reconciliation_exception(
            exception_id=3, title="Reconciliation: paid twice on 1001", text="Two charges."
        )

    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.role, alert.slack_status) == (
        "reconciliation_exception",
        "finance",
        SendStatus.SENT,
    )


def test_slack_down_keeps_the_alert_queued_and_a_later_sweep_sends_it_once(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, capture: Any
) -> None:
    fake_slack.fail("500")
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")

    alert = StaffAlert.objects.get()
    assert alert.slack_status == SendStatus.PENDING and alert.slack_attempts == 1
    assert "HTTP 500" in alert.slack_error
    assert alert.next_attempt_at is not None and alert.next_attempt_at > timezone.now()
    assert alert.email_status == SendStatus.SENT  # e-mail does not wait for Slack
    assert fake_slack.posted == []

    assert staff_alerts_send_due(slack=slack) == 0  # not due yet
    StaffAlert.objects.update(next_attempt_at=timezone.now())
    assert staff_alerts_send_due(slack=slack) == 1

    alert.refresh_from_db()
    assert (alert.slack_status, alert.slack_attempts, alert.next_attempt_at) == (
        SendStatus.SENT,
        2,
        None,
    )
    assert len(fake_slack.posted) == 1 and len(mail.outbox) == 1
    assert staff_alerts_send_due(slack=slack) == 0


def test_a_long_retry_after_is_honoured(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, capture: Any
) -> None:
    fake_slack.retry_after = 600
    fake_slack.fail("429")
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")

    alert = StaffAlert.objects.get()
    assert alert.slack_status == SendStatus.PENDING
    assert alert.next_attempt_at is not None
    assert alert.next_attempt_at >= timezone.now() + timedelta(seconds=590)
    assert len(fake_slack.requests) == 1  # not hammered in-process


def test_a_webhook_slack_refuses_fails_without_retrying_and_the_url_is_never_stored(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, settings: Any, capture: Any
) -> None:
    settings.SLACK_WEBHOOK_URL = f"{fake_slack.url}/services/T0/B0/revoked-secret-value"
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")

    alert = StaffAlert.objects.get()
    assert alert.slack_status == SendStatus.FAILED
    assert "404" in alert.slack_error and "no_service" in alert.slack_error
    assert alert.next_attempt_at is None
    call = ProviderCall.objects.get(provider="slack")
    assert "revoked-secret-value" not in call.url + call.error
    assert "revoked-secret-value" not in alert.slack_error
    assert WEBHOOK_PATH not in call.url


def test_the_web_api_posts_to_the_channel_of_each_kind(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, finance: Any, settings: Any, capture: Any
) -> None:
    settings.SLACK_BOT_TOKEN = BOT_TOKEN
    settings.SLACK_CHANNELS = {"reconciliation_exception": "#finance"}
    settings.SLACK_DEFAULT_CHANNEL = "#ops"
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")
        staff_alert_reconciliation_exception(exception_id=1, title="Paid twice", text="Twice.")

    assert sorted((p["channel"], p["text"]) for p in fake_slack.posted) == [
        ("#finance", "Paid twice"),
        ("#ops", "Circuit breaker open: zapi"),
    ]
    assert fake_slack.requests[0]["headers"]["authorization"] == f"Bearer {BOT_TOKEN}"
    calls = ProviderCall.objects.filter(provider="slack")
    assert calls.count() == 2
    assert all(BOT_TOKEN not in c.url + c.error for c in calls)


def test_the_web_api_refusals_and_retryable_errors(
    fake_slack: FakeSlack, slack: SlackClient, ops: Any, settings: Any, capture: Any
) -> None:
    settings.SLACK_BOT_TOKEN = "xoxb-0000000000-0000000000-wrongwrongwrongwrongwron"
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")
    refused = StaffAlert.objects.get()
    assert (refused.slack_status, refused.slack_error) == (
        SendStatus.FAILED,
        "slack chat.postMessage: invalid_auth",
    )

    settings.SLACK_BOT_TOKEN = BOT_TOKEN
    fake_slack.fail("internal_error")
    with capture(execute=True):
        staff_alert_breaker_opened(provider="twilio")
    retried = StaffAlert.objects.get(object_key="breaker:twilio")
    assert retried.slack_status == SendStatus.PENDING
    assert retried.slack_error == "slack chat.postMessage: internal_error"


def test_without_slack_alerts_go_by_email_only(ops: Any, settings: Any, capture: Any) -> None:
    settings.SLACK_ENABLED = False
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")

    alert = StaffAlert.objects.get()  # sent by the task (run inline by the test settings)
    assert (alert.slack_status, alert.email_status) == (SendStatus.OFF, SendStatus.SENT)
    assert len(mail.outbox) == 1
    assert not ProviderCall.objects.filter(provider="slack").exists()


def test_a_mail_server_down_is_retried(
    ops: Any, settings: Any, capture: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SLACK_ENABLED = False

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("smtp down")

    with monkeypatch.context() as patch:
        patch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
        with capture(execute=True):
            staff_alert_breaker_opened(provider="zapi")
    alert = StaffAlert.objects.get()
    assert alert.email_status == SendStatus.PENDING and "smtp down" in alert.email_error

    StaffAlert.objects.update(next_attempt_at=timezone.now())
    staff_alerts_send_due()
    alert.refresh_from_db()
    assert alert.email_status == SendStatus.SENT and len(mail.outbox) == 1


def test_ops_reads_the_staff_alerts_list(
    client: Any, ops: Any, capture: Any, settings: Any
) -> None:
    sync_roles()
    settings.SLACK_ENABLED = False
    with capture(execute=True):
        staff_alert_breaker_opened(provider="zapi")
    client.force_login(ops)

    page = client.get("/admin/integrations/staffalert/")

    assert page.status_code == 200
    assert "Circuit breaker open: zapi" in page.content.decode()
    assert DomainEvent.objects.count() == 0  # alerts are not customer timeline events


@pytest.fixture
def capture(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


def test_start_up_refuses_slack_enabled_without_a_url_or_token(settings: Any) -> None:
    from integrations.alerts.checks import slack_settings

    settings.SLACK_ENABLED = True
    settings.SLACK_WEBHOOK_URL = ""
    settings.SLACK_BOT_TOKEN = ""
    settings.SLACK_CHANNELS = {"breaker_open": "#ops", "disputes": "#finance"}
    assert [e.id for e in slack_settings()] == ["alerts.E001", "alerts.E002"]

    settings.SLACK_CHANNELS = {}
    settings.SLACK_BOT_TOKEN = "not-a-bot-token"
    (error,) = slack_settings()
    assert error.id == "alerts.E002" and "not-a-bot-token" not in error.msg

    settings.SLACK_BOT_TOKEN = BOT_TOKEN
    assert slack_settings() == []
    settings.SLACK_ENABLED = False
    settings.SLACK_BOT_TOKEN = ""
    assert slack_settings() == []
