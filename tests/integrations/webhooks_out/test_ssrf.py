"""The SSRF guard: private, loopback, link-local, CGNAT, ULA, metadata and mapped addresses are
refused, whether written literally or behind a name; the address resolved once is the one used."""

from __future__ import annotations

import ipaddress

import pytest
from django.db import transaction

from integrations.models import WebhookMessage
from integrations.webhooks_out.relay import messages_send_due
from integrations.webhooks_out.services import endpoint_create
from integrations.webhooks_out.ssrf import EndpointRefused, refusal, resolve_endpoint

pytestmark = pytest.mark.django_db

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not one we bind
    "224.0.0.251",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.fixture
def guard_defaults(settings):
    """The production default: no network allowed beyond the public internet."""
    settings.WEBHOOKS_OUT_ALLOWED_NETWORKS = []
    return settings


@pytest.mark.parametrize("address", REFUSED)
def test_the_default_refuses_each_range(guard_defaults, address):
    assert refusal(ipaddress.ip_address(address))
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(EndpointRefused):
        resolve_endpoint(f"https://{host}/hooks")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(guard_defaults, address):
    assert refusal(ipaddress.ip_address(address)) == ""


@pytest.mark.parametrize(
    "address", ["10.0.0.7", "127.0.0.1", "169.254.169.254", "fd00:ec2::254", "100.64.3.3"]
)
def test_a_hostile_name_resolving_to_a_private_address_is_refused(guard_defaults, address):
    guard_defaults.WEBHOOKS_OUT_HOSTS = {"hooks.attacker.test": [address]}
    with pytest.raises(EndpointRefused, match="resolves to"):
        resolve_endpoint("https://hooks.attacker.test/in")


def test_one_private_answer_among_public_ones_is_enough_to_refuse(guard_defaults):
    guard_defaults.WEBHOOKS_OUT_HOSTS = {"mixed.attacker.test": ["93.184.216.34", "10.0.0.1"]}
    with pytest.raises(EndpointRefused):
        resolve_endpoint("https://mixed.attacker.test/")


def test_the_address_is_pinned_from_the_one_resolution(guard_defaults):
    guard_defaults.WEBHOOKS_OUT_HOSTS = {"erp.customer.test": ["93.184.216.34"]}
    target = resolve_endpoint("https://erp.customer.test:8443/hooks")
    assert (target.host, target.port, target.address) == (
        "erp.customer.test",
        8443,
        "93.184.216.34",
    )


def test_plain_http_and_credentials_in_the_url_are_refused(guard_defaults):
    guard_defaults.WEBHOOKS_OUT_ALLOW_HTTP = False
    with pytest.raises(EndpointRefused, match="https"):
        resolve_endpoint("http://93.184.216.34/")
    with pytest.raises(EndpointRefused, match="Credentials"):
        resolve_endpoint("https://user:pw@93.184.216.34/")


def test_the_allow_list_lets_only_its_network_through(settings):
    settings.WEBHOOKS_OUT_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert refusal(ipaddress.ip_address("127.0.0.1")) == ""
    assert refusal(ipaddress.ip_address("127.0.0.2"))
    assert refusal(ipaddress.ip_address("10.0.0.1"))


def test_a_literal_private_url_is_refused_when_the_endpoint_is_created(guard_defaults):
    with pytest.raises(EndpointRefused):
        endpoint_create(url="https://169.254.169.254/latest/meta-data/", event_types=["*"])


def test_a_name_that_turns_private_later_is_refused_at_send_time_and_nothing_is_sent(
    settings, receiver, django_capture_on_commit_callbacks
):
    """DNS rebinding: the name was public when the endpoint was made, it resolves to loopback
    when the message goes: refused (logged as a failed attempt), the local receiver sees nothing."""
    port = receiver.url.rsplit(":", 1)[1]
    settings.WEBHOOKS_OUT_HOSTS = {"rebind.attacker.test": ["93.184.216.34"]}
    endpoint, _ = endpoint_create(
        url=f"http://rebind.attacker.test:{port}/hooks", event_types=["*"]
    )
    settings.WEBHOOKS_OUT_ALLOWED_NETWORKS = []
    settings.WEBHOOKS_OUT_HOSTS = {"rebind.attacker.test": ["127.0.0.1"]}
    with transaction.atomic():
        message = WebhookMessage.objects.create(
            endpoint=endpoint, event_type="webhook.test", msg_id="msg_rebind", test_payload={}
        )
    messages_send_due()
    message.refresh_from_db()
    assert message.status == WebhookMessage.Status.FAILED
    assert "resolves to 127.0.0.1" in message.last_error
    assert receiver.requests == []
    assert message.log.get().error.startswith("Refused")


def test_the_request_goes_to_the_pinned_address_with_the_names_host_header(
    settings, receiver, make_endpoint
):
    """A name that no DNS knows, pinned to the receiver's address: the connection goes to the
    address, the Host header keeps the name."""
    port = receiver.url.rsplit(":", 1)[1]
    settings.WEBHOOKS_OUT_HOSTS = {"erp.pinned.test": ["127.0.0.1"]}
    endpoint = make_endpoint(url=f"http://erp.pinned.test:{port}/hooks")
    with transaction.atomic():
        WebhookMessage.objects.create(
            endpoint=endpoint, event_type="webhook.test", msg_id="msg_pinned", test_payload={}
        )
    assert messages_send_due() == 1
    [request] = receiver.requests
    assert request["headers"]["host"] == f"erp.pinned.test:{port}"
    assert "msg_pinned" in receiver.taken
