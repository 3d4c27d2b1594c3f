"""One spec per provider package, registries loaded from settings only (issue 9 item 1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from integrations.models import WebhookEvent
from integrations.providers import (
    CRM,
    FAMILIES,
    MESSAGING,
    PAYMENTS,
    SHIPPING,
    STOREFRONTS,
    ProviderSpec,
    enabled_specs,
    load_spec,
    specs,
)
from integrations.webhooks.registry import get_webhook_endpoint, webhook_endpoint_registered
from integrations.webhooks.standard import standard_webhooks_headers
from notifications.channels import get_channel
from payments.providers import get_payment_provider
from shipping.carriers import get_carrier

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "payments.providers.sandbox": (PAYMENTS, "sandbox"),
    "payments.providers.stripe": (PAYMENTS, "stripe"),
    "payments.providers.asaas": (PAYMENTS, "asaas"),
    "shipping.carriers.sandbox": (SHIPPING, "sandbox"),
    "shipping.carriers.melhor_envio": (SHIPPING, "melhor_envio"),
    "shipping.carriers.easypost": (SHIPPING, "easypost"),
    "notifications.channels.email": (MESSAGING, "email"),
    "notifications.channels.sandbox": (MESSAGING, "sandbox"),
    "notifications.channels.twilio": (MESSAGING, "twilio"),
    "orders.sources.shopify": (STOREFRONTS, "shopify"),
    "notifications.channels.zapi": (MESSAGING, "zapi"),
    "accounts.crm.hubspot": (CRM, "hubspot"),
}
EXAMPLE = "tests.support.example_provider"
EXAMPLE_SECRET = "whsec_" + "ZXhhbXBsZS1wcm92aWRlci1zZWNyZXQtMzItYnl0ZXM="


@pytest.mark.parametrize("package", sorted(SHIPPED))
def test_each_shipped_package_exports_one_spec(package: str):
    family, name = SHIPPED[package]

    spec = load_spec(package)

    assert isinstance(spec, ProviderSpec)
    assert (spec.family, spec.name) == (family.name, name)
    assert package in getattr(django_settings, family.packages_setting), "listed by default"
    adapter_class = import_string(spec.adapter)
    assert adapter_class.name == spec.name, "the adapter stores the spec's name on its rows"
    assert isinstance(getattr(django_settings, spec.enabled_by), bool)
    for route in spec.webhooks:
        assert import_string(route.endpoint).name == route.slug
    for setting in spec.settings:
        assert hasattr(django_settings, setting.name), setting.name


def test_every_provider_package_in_the_tree_is_shipped():
    """A package under a family's folder with no spec (or a spec not listed here) is a provider
    that nothing loads: refuse it."""
    found = set()
    folders = (
        "payments/providers",
        "shipping/carriers",
        "notifications/channels",
        "orders/sources",
        "accounts/crm",
    )
    for folder in folders:
        for path in sorted((ROOT / folder).iterdir()):
            module = f"{folder.replace('/', '.')}.{path.stem}"
            if path.name.startswith("_") or path.stem in ("base", "services", "summary"):
                continue
            is_module = path.is_dir() or path.suffix == ".py"
            if is_module and getattr(import_module(module), "spec", None) is not None:
                found.add(module)
    assert found == set(SHIPPED)


def test_registries_load_only_the_listed_packages(settings: Any):
    settings.STRIPE_ENABLED = True
    settings.STRIPE_SECRET_KEY = "sk_test_0123456789abcdef"
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_0123456789abcdef"]
    assert get_payment_provider("stripe").name == "stripe"
    assert get_webhook_endpoint("stripe") is not None

    settings.PAYMENT_PROVIDERS = ["payments.providers.sandbox"]

    assert set(specs(PAYMENTS)) == {"sandbox"}
    with pytest.raises(ImproperlyConfigured, match="not a payment provider listed"):
        get_payment_provider("stripe")
    assert get_webhook_endpoint("stripe") is None


def test_a_listed_provider_is_served_only_while_enabled(settings: Any, client: Any):
    settings.STRIPE_ENABLED = False

    assert "stripe" not in enabled_specs(PAYMENTS)
    with pytest.raises(ImproperlyConfigured, match="set STRIPE_ENABLED=true"):
        get_payment_provider("stripe")
    assert (
        client.post("/webhooks/stripe/", data=b"{}", content_type="application/json").status_code
        == 404
    )


def test_the_active_provider_of_each_family_comes_from_settings(settings: Any):
    assert get_payment_provider().name == settings.PAYMENT_PROVIDER == "sandbox"
    assert get_carrier().name == settings.SHIPPING_CARRIER == "sandbox"
    assert get_channel("email").name == "email"
    assert get_channel("whatsapp").name == "sandbox"
    with pytest.raises(ImproperlyConfigured, match="MESSAGE_CHANNELS"):
        get_channel("sms")


@pytest.mark.django_db
def test_a_new_provider_is_one_package_and_one_settings_line(settings: Any, client: Any):
    """tests/support/example_provider is a package with a spec, nothing else: listing it (and
    turning it on, and giving its secret, as its spec asks) gives it an adapter, a webhook URL
    that verifies and stores, and the start-up checks."""
    from integrations.checks import check_providers

    settings.PAYMENT_PROVIDERS = [*settings.PAYMENT_PROVIDERS, EXAMPLE]  # the one settings line
    settings.EXAMPLE_ENABLED = True
    settings.EXAMPLE_WEBHOOK_SECRET = ""
    assert [m.id for m in check_providers()] == ["providers.E003"]  # its secret is missing
    settings.EXAMPLE_WEBHOOK_SECRET = EXAMPLE_SECRET
    assert check_providers() == []

    assert get_payment_provider("example").name == "example"
    body = json.dumps({"type": "payment.unmapped", "timestamp": "2026-11-30T12:00:00Z", "data": {}})
    headers = standard_webhooks_headers(
        secret=EXAMPLE_SECRET, msg_id="msg_example_1", body=body, at=datetime.now(tz=UTC)
    )
    answer = client.post(
        "/webhooks/example-pay/",
        data=body,
        content_type="application/json",
        headers=headers,
    )
    assert answer.status_code == 200, answer.content
    assert WebhookEvent.objects.filter(provider="example-pay", event_id="msg_example_1").exists()

    forged = client.post(
        "/webhooks/example-pay/",
        data=body,
        content_type="application/json",
        headers={**headers, "webhook-id": "msg_example_2"},
    )
    assert forged.status_code == 401

    settings.EXAMPLE_ENABLED = False
    off = client.post("/webhooks/example-pay/", data=body, content_type="application/json")
    assert off.status_code == 404


def test_families_name_their_settings():
    assert {f.packages_setting for f in FAMILIES.values()} == {
        "PAYMENT_PROVIDERS",
        "SHIPPING_CARRIERS",
        "MESSAGE_PROVIDERS",
        "ORDER_SOURCES",
        "CRM_PROVIDERS",
    }
    assert {f.active_setting for f in FAMILIES.values()} == {
        "PAYMENT_PROVIDER",
        "SHIPPING_CARRIER",
        "MESSAGE_CHANNELS",
        "",
    }
    assert STOREFRONTS.active_setting == "", "every enabled storefront sends orders in"


def test_a_storefront_is_served_only_while_listed_and_enabled(settings: Any, client: Any):
    """Storefronts have no active one: an enabled, listed storefront gets its adapter and its
    webhook URL; off or unlisted, neither (and the checks ask nothing of it)."""
    from integrations.checks import check_providers
    from orders.sources import get_order_source, order_source_enabled

    settings.SHOPIFY_ENABLED = False
    assert not order_source_enabled("shopify")
    assert (
        client.post("/webhooks/shopify/", data=b"{}", content_type="application/json").status_code
        == 404
    )
    with pytest.raises(ImproperlyConfigured, match="set SHOPIFY_ENABLED=true"):
        get_order_source("shopify")

    settings.SHOPIFY_ENABLED = True
    settings.SHOPIFY_SHOP = "myshop.myshopify.com"
    settings.SHOPIFY_ACCESS_TOKEN = "shpat_0123456789abcdef0123456789abcdef"
    settings.SHOPIFY_WEBHOOK_SECRET = "shpss_0123456789abcdef0123456789abcdef"
    assert check_providers() == []
    assert get_order_source("shopify").name == "shopify"
    assert get_webhook_endpoint("shopify") is not None

    settings.ORDER_SOURCES = []
    assert not order_source_enabled("shopify")
    assert get_webhook_endpoint("shopify") is None


def test_the_guide_to_adding_a_provider_exists_and_names_the_seam():
    guide = (ROOT / "docs" / "adding-a-provider.md").read_text()
    for needle in ("ProviderSpec", "PAYMENT_PROVIDERS", "manage.py check", "WebhookRoute"):
        assert needle in guide


def test_a_test_registration_never_outlives_the_settings_that_enabled_the_provider(settings: Any):
    """A fixture that registers an endpoint its enabled spec already serves must not leave it in
    the hand registry: it would serve /webhooks/stripe/ after STRIPE_ENABLED went off (a leak
    that failed this module's other tests when the stripe tests ran first on the same worker)."""
    from payments.providers.stripe.webhooks import endpoint

    settings.STRIPE_ENABLED = True
    settings.STRIPE_SECRET_KEY = "sk_test_0123456789abcdef"
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_0123456789abcdef"]
    with webhook_endpoint_registered(endpoint):
        assert get_webhook_endpoint("stripe") is endpoint
    settings.STRIPE_ENABLED = False

    assert get_webhook_endpoint("stripe") is None
    with webhook_endpoint_registered(endpoint):  # not enabled: registered by hand for the block
        assert get_webhook_endpoint("stripe") is endpoint
    assert get_webhook_endpoint("stripe") is None
