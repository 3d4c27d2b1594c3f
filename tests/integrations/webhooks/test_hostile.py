"""Nothing a sender controls yields a 500: hostile deliveries to a Standard Webhooks endpoint,
signed correctly so they get past verification, answer 400 (or 401 for a bad signature header)
and store nothing; a hostile row already in the inbox fails as malformed and renders in the admin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.access.roles import sync_roles
from integrations.models import WebhookEvent, WebhookRejection
from integrations.webhooks.processing import webhook_event_process
from integrations.webhooks.registry import MAX_JSON_DEPTH
from tests.factories import make_staff
from tests.integrations.webhooks.support import PREVIOUS_SECRET, PROVIDER, signed

pytestmark = pytest.mark.django_db

NOW_ISO = "2026-01-15T12:00:00+00:00"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _envelope(
    *, data: str = '{"id": "obj_1"}', type_: str = '"customer.linked"', ts: str = ""
) -> str:
    timestamp = ts or json.dumps(NOW_ISO)
    return f'{{"type": {type_}, "timestamp": {timestamp}, "data": {data}}}'


def _sign(
    body: str, *, msg_id: str = "msg_hostile", secret: str | None = None, at: int | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for ``body`` exactly as given, at the real clock (or ``at``)."""
    key = base64.b64decode((secret or django_settings.SANDBOX_WEBHOOK_SECRET)[len("whsec_") :])
    timestamp = str(int(time.time()) if at is None else at)
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


HOSTILE_BODIES = {
    "nested-10000-deep": _envelope(data=f'{{"id": "x", "n": {_nested(10_000)}}}'),
    "nested-just-past-the-cap": _envelope(data=f'{{"id": "x", "n": {_nested(MAX_JSON_DEPTH)}}}'),
    "int-2**63": _envelope(data=f'{{"id": "x", "amount": {2**63}}}'),
    "int-below-int64": _envelope(data=f'{{"id": "x", "amount": {-(2**63) - 1}}}'),
    "int-5000-digits": _envelope(data=f'{{"id": "x", "amount": {"9" * 5000}}}'),
    "float-overflows-to-inf": _envelope(data='{"id": "x", "amount": 1e400}'),
    "float-past-int64": _envelope(data='{"id": "x", "amount": 1e19}'),
    "NaN-literal": _envelope(data='{"id": "x", "amount": NaN}'),
    "Infinity-literal": _envelope(data='{"id": "x", "amount": -Infinity}'),
    "timestamp-past-9999-in-utc": _envelope(ts='"9999-12-31T23:00:00-05:00"'),
    "timestamp-before-year-1-in-utc": _envelope(ts='"0001-01-01T00:00:00+05:00"'),
    "timestamp-year-10000": _envelope(ts='"10000-01-01T00:00:00+00:00"'),
    "timestamp-not-a-string": _envelope(ts="1700000000"),
    "lone-surrogate-in-object-id": _envelope(data='{"id": "\\ud800"}'),
    "nul-in-event-type": _envelope(type_='"customer.\\u0000linked"'),
    "nul-in-a-nested-string": _envelope(data='{"id": "x", "note": "a\\u0000b"}'),
}


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_signed_hostile_body_is_400_and_nothing_is_stored_or_applied(handlers, deliver, body):
    response = deliver(body.encode(), _sign(body))

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "malformed"
    assert not WebhookEvent.objects.exists()
    assert not WebhookRejection.objects.exists()  # authentic, just malformed
    assert handlers.calls == []


def test_nesting_up_to_the_cap_is_accepted(handlers, deliver):
    # The control for the depth cases above: the envelope and "data" take two levels.
    body = _envelope(data=f'{{"id": "x", "n": {_nested(MAX_JSON_DEPTH - 2)}}}')
    response = deliver(body.encode(), _sign(body))
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().object_id == "x"


def test_a_surrogate_pair_escape_is_a_character_not_malformed(handlers, deliver):
    body = _envelope(data='{"id": "obj_\\ud83d\\ude00"}')
    assert deliver(body.encode(), _sign(body)).status_code == 200
    assert WebhookEvent.objects.get().object_id == "obj_\U0001f600"


def test_nul_in_the_signed_webhook_id_is_400(handlers, deliver):
    body = _envelope()
    response = deliver(body.encode(), _sign(body, msg_id="msg\x00x"))
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_timestamp_in_another_offset_is_stored_in_utc(handlers, deliver):
    body = _envelope(ts='"2026-01-15T09:00:00-03:00"')
    assert deliver(body.encode(), _sign(body)).status_code == 200
    assert WebhookEvent.objects.get().occurred_at == datetime(2026, 1, 15, 12, tzinfo=UTC)


# --- the webhook-timestamp header ------------------------------------------------------------


def _arabic_indic(digits: str) -> str:
    return "".join(chr(0x0660 + int(d)) for d in digits)  # U+0660..U+0669


@pytest.mark.parametrize(
    "timestamp",
    [
        "99999999999999",  # past year 9999
        "9" * 400,
        "²",
        "nan",
        "inf",
        "-1",
        "1e9",
        "0x10",
        "",
    ],
)
def test_webhook_timestamp_that_is_not_a_plain_number_is_401_and_logged(
    handlers, deliver, timestamp
):
    body = _envelope()
    headers = {**_sign(body), "webhook-timestamp": timestamp}
    response = deliver(body.encode(), headers)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.count() == 1
    assert handlers.calls == []


@pytest.mark.parametrize("spelling", ["arabic-indic", "fraction", "padded"])
def test_webhook_timestamp_spelled_other_than_ascii_digits_is_401_even_when_signed(
    handlers, deliver, spelling
):
    """The reference library reads the header with ``float()``, which takes Arabic-Indic digits,
    ``"1700000000.9"`` and ``" 1700000000"`` and then checks the MAC over the ASCII integer: the
    header the MAC covers must be exactly the ASCII digits."""
    body = _envelope()
    headers = _sign(body)
    ascii_ts = headers["webhook-timestamp"]
    headers["webhook-timestamp"] = {
        "arabic-indic": _arabic_indic(ascii_ts),
        "fraction": ascii_ts + ".9",
        "padded": " " + ascii_ts,
    }[spelling]
    response = deliver(body.encode(), headers)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert "timestamp" in WebhookRejection.objects.get().reason.lower()


# --- the webhook-signature header ------------------------------------------------------------


@pytest.mark.parametrize(
    "junk",
    ["garbage", "v1", "v1,", "v1,a,b", "v1,!!not-base64!!", "v1,====", ",", "v2,abc", "v1a,xyz"],
)
def test_a_malformed_signature_entry_is_skipped_and_a_valid_one_after_it_passes(
    handlers, deliver, junk
):
    body = _envelope()
    headers = _sign(body)
    headers["webhook-signature"] = f"{junk} {headers['webhook-signature']}"
    response = deliver(body.encode(), headers)
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.count() == 1


def test_extra_spaces_between_signature_entries_are_skipped(handlers, deliver):
    body = _envelope()
    headers = _sign(body)
    headers["webhook-signature"] = f"v1,bm9wZQ==   {headers['webhook-signature']}"
    assert deliver(body.encode(), headers).status_code == 200


def test_only_malformed_signature_entries_is_401(handlers, deliver):
    body = _envelope()
    headers = {**_sign(body), "webhook-signature": "garbage v1,a,b v1,!!"}
    assert deliver(body.encode(), headers).status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.count() == 1


def test_signatures_by_the_new_and_the_previous_secret_in_one_header_pass(handlers, deliver):
    body = _envelope()
    now = int(time.time())
    new, old = _sign(body, at=now), _sign(body, secret=PREVIOUS_SECRET, at=now)
    headers = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}
    assert deliver(body.encode(), headers).status_code == 200


def test_a_bad_configured_secret_is_skipped_and_the_previous_one_still_verifies(
    handlers, deliver, settings
):
    settings.SANDBOX_WEBHOOK_SECRET = "whsec_%%%not base64%%%"
    body = _envelope()
    assert deliver(body.encode(), _sign(body, secret=PREVIOUS_SECRET)).status_code == 200


@pytest.mark.parametrize("endpoint", ["sandbox-payments", "sandbox-shipping", "sandbox-messaging"])
def test_the_sandbox_endpoints_take_the_previous_secret_until_the_rotation_ends(
    deliver, settings, endpoint
):
    settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS = PREVIOUS_SECRET
    body = _envelope(type_='"unknown.type"')
    path = f"/webhooks/{endpoint}/"
    old = _sign(body, msg_id="msg_rot_1", secret=PREVIOUS_SECRET)
    assert deliver(body.encode(), old, path=path).status_code == 200
    # Both signatures in one header, junk first, as a sender mid-rotation may send them.
    now = int(time.time())
    new = _sign(body, msg_id="msg_rot_2", at=now)
    previous = _sign(body, msg_id="msg_rot_2", secret=PREVIOUS_SECRET, at=now)
    both = f"v1 {previous['webhook-signature']} {new['webhook-signature']}"
    headers = {**new, "webhook-signature": both}
    assert deliver(body.encode(), headers, path=path).status_code == 200

    settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS = ""
    late = _sign(body, msg_id="msg_rot_3", secret=PREVIOUS_SECRET)
    assert deliver(body.encode(), late, path=path).status_code == 401
    assert set(WebhookEvent.objects.values_list("event_id", flat=True)) == {
        "msg_rot_1",
        "msg_rot_2",
    }


# --- hostile rows already in the inbox -------------------------------------------------------


def _stored(body: str, *, event_type: str = "customer.linked") -> WebhookEvent:
    """A row as an older receiver (before the depth cap) could have stored it."""
    return WebhookEvent.objects.create(
        provider=PROVIDER,
        event_id=f"msg_old_{hashlib.sha256(body.encode()).hexdigest()[:12]}",
        event_type=event_type,
        headers={"webhook-id": "msg_old"},
        body=body,
    )


@pytest.mark.parametrize(
    "body",
    [
        _envelope(data=f'{{"id": "x", "n": {_nested(10_000)}}}'),
        _envelope(data=f'{{"id": "x", "amount": {2**64}}}'),
        _envelope(ts='"9999-12-31T23:00:00-05:00"'),
        "not json",
    ],
    ids=["deep", "int-past-64-bits", "date-past-9999", "not-json"],
)
def test_a_malformed_stored_body_fails_as_malformed_once_and_is_not_retried(handlers, body):
    event = _stored(body)

    event = webhook_event_process(event_id=event.pk)

    assert event.status == WebhookEvent.Status.DEAD
    assert event.last_error.startswith("MalformedWebhook: ")
    assert event.attempts == 1
    assert event.next_attempt_at is None
    assert handlers.calls == []


@pytest.fixture
def ops_client(client, db):
    sync_roles()
    client.force_login(make_staff("ops", role="ops"))
    return client


def test_admin_change_page_renders_a_row_nested_10000_deep(ops_client):
    event = _stored(_envelope(data=f'{{"id": "x", "n": {_nested(10_000)}}}'))

    response = ops_client.get(reverse("admin:integrations_webhookevent_change", args=[event.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "[[[[[[[[" in html  # shown as received
    assert "not shown pretty-printed" in html


def test_admin_change_page_renders_rows_the_parser_refuses(ops_client):
    events = [
        _stored(_envelope(data=f'{{"id": "x", "amount": {"9" * 5000}}}')),
        _stored(_envelope(data='{"id": "\\ud800"}')),
        _stored(_envelope(data='{"id": NaN}')),
    ]
    for event in events:
        url = reverse("admin:integrations_webhookevent_change", args=[event.pk])
        assert ops_client.get(url).status_code == 200


def test_admin_change_page_still_pretty_prints_a_sound_body(ops_client):
    event = _stored(_envelope())
    url = reverse("admin:integrations_webhookevent_change", args=[event.pk])
    html = ops_client.get(url).content.decode()
    assert "\n  &quot;data&quot;: {" in html
    assert "not shown pretty-printed" not in html


def test_the_signed_helper_still_round_trips(handlers, deliver, customer):
    # The support helper and this module's signer agree on the scheme.
    body, headers = signed("customer.linked", {"id": "cus_h", "customer_pk": customer.pk})
    assert deliver(body, headers).status_code == 200
