"""The provider seam: one spec per provider package, registries loaded from settings.

Each provider is one package (``payments/providers/stripe/``, ``shipping/carriers/sandbox/``,
``notifications/channels/email/``, ...) whose ``__init__`` exports ``spec``, a ``ProviderSpec``:
its family, its name, its adapter factory and webhook endpoints (dotted paths, imported only when
used), the settings it needs and the flag that turns it on. Settings list a family's packages
(``PAYMENT_PROVIDERS``, ``SHIPPING_CARRIERS``, ``MESSAGE_PROVIDERS``, ``ORDER_SOURCES``,
``CRM_PROVIDERS``); the
registries below read specs from those lists only, and ``integrations/checks.py`` refuses to
start on a wrong one.

A provider is *enabled* when its package is listed and its flag (``STRIPE_ENABLED``, ...) is on.
Only enabled providers get adapters and webhook URLs. The *active* provider is the one new work
goes to (``PAYMENT_PROVIDER``, ``SHIPPING_CARRIER``, and ``MESSAGE_CHANNELS`` per channel); work
already started with another enabled provider (a Stripe payment's refund) still reaches it.
Storefronts (order sources such as Shopify) have no active one: every enabled storefront sends
its orders in, and the write-back goes to the storefront an order came from.

This module imports no domain app: packages are named by dotted paths in settings.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Family:
    """A kind of provider: where its packages are listed and how its active one is chosen."""

    name: str
    packages_setting: str
    """The setting listing the family's provider packages (dotted module paths)."""
    active_setting: str
    """The setting naming the provider new work goes to (for messaging: channel -> name);
    empty for a family with no active provider (storefronts: every enabled one is used)."""
    label: str


PAYMENTS = Family("payments", "PAYMENT_PROVIDERS", "PAYMENT_PROVIDER", "payment provider")
SHIPPING = Family("shipping", "SHIPPING_CARRIERS", "SHIPPING_CARRIER", "carrier")
MESSAGING = Family("messaging", "MESSAGE_PROVIDERS", "MESSAGE_CHANNELS", "message provider")
STOREFRONTS = Family("storefronts", "ORDER_SOURCES", "", "order source")
CRM = Family("crm", "CRM_PROVIDERS", "", "CRM")
FAMILIES: dict[str, Family] = {
    family.name: family for family in (PAYMENTS, SHIPPING, MESSAGING, STOREFRONTS, CRM)
}

Check = Callable[[Any], str | None]
"""Looks at a setting's value; answers what is wrong with it, or None when it is fine."""


@dataclass(frozen=True)
class ProviderSetting:
    """A setting an enabled provider needs, read from the environment variable ``variable``.
    ``check`` refuses a malformed value; messages never show the value (most are secrets)."""

    name: str
    required: bool = True
    check: Check | None = None
    env: str = ""
    """The environment variable to set, when it is not the setting's own name."""
    help: str = ""

    @property
    def variable(self) -> str:
        return self.env or self.name


@dataclass(frozen=True)
class WebhookRoute:
    """``POST /webhooks/<slug>/`` served by the ``WebhookEndpoint`` at ``endpoint``."""

    slug: str
    endpoint: str


@dataclass(frozen=True)
class ProviderSpec:
    family: str
    name: str
    adapter: str
    """Dotted path to the adapter factory (called with no arguments, once per process)."""
    enabled_by: str
    """The boolean setting that turns the provider on (``STRIPE_ENABLED``)."""
    webhooks: tuple[WebhookRoute, ...] = ()
    settings: tuple[ProviderSetting, ...] = ()
    sandbox: bool = False
    """A sandbox provider: refused in production unless ``SANDBOX_IN_PRODUCTION`` is set."""
    channels: tuple[str, ...] = ()
    """Messaging only: the channels (email, whatsapp, sms) this provider can carry."""
    description: str = ""
    one_of: tuple[tuple[str, ...], ...] = ()
    """Groups of settings of which at least one must be set once enabled (Twilio sends from
    ``TWILIO_FROM`` or ``TWILIO_MESSAGING_SERVICE_SID``); list each in ``settings`` too, with
    ``required=False``, for its format check."""

    @property
    def enabled(self) -> bool:
        return bool(getattr(settings, self.enabled_by, False))

    def setting(self, name: str) -> Any:
        return getattr(settings, name, None)


class UnknownProvider(ImproperlyConfigured):
    """A provider package that cannot be imported or exports no ``spec``."""


@cache
def load_spec(package: str) -> ProviderSpec:
    """The ``spec`` exported by ``package``. Raises UnknownProvider."""
    try:
        module = import_module(package)
    except ImportError as exc:
        raise UnknownProvider(f"{package!r} cannot be imported ({exc}).") from None
    spec = getattr(module, "spec", None)
    if not isinstance(spec, ProviderSpec):
        raise UnknownProvider(f"{package!r} exports no ProviderSpec named spec.")
    return spec


def packages(family: Family) -> list[str]:
    return list(getattr(settings, family.packages_setting, None) or [])


def specs(family: Family) -> dict[str, ProviderSpec]:
    """The family's listed providers by name (a package that does not load is skipped here and
    reported by the system checks)."""
    found: dict[str, ProviderSpec] = {}
    for package in packages(family):
        try:
            spec = load_spec(package)
        except UnknownProvider:
            continue
        if spec.family == family.name:
            found[spec.name] = spec
    return found


def enabled_specs(family: Family) -> dict[str, ProviderSpec]:
    return {name: spec for name, spec in specs(family).items() if spec.enabled}


def all_enabled_specs() -> Iterator[ProviderSpec]:
    for family in FAMILIES.values():
        yield from enabled_specs(family).values()


def enabled_spec(family: Family, name: str) -> ProviderSpec:
    """The enabled provider ``name`` of ``family``; ImproperlyConfigured names what to set."""
    spec = specs(family).get(name)
    if spec is None:
        raise ImproperlyConfigured(
            f"{name!r} is not a {family.label} listed in {family.packages_setting}."
        )
    if not spec.enabled:
        raise ImproperlyConfigured(
            f"The {family.label} {name!r} is not enabled: set {spec.enabled_by}=true."
        )
    return spec


_adapters: dict[str, Any] = {}


def provider_adapter(family: Family, name: str) -> Any:
    """The adapter of the enabled provider ``name``, made once per process."""
    path = enabled_spec(family, name).adapter
    if path not in _adapters:
        _adapters[path] = import_string(path)()
    return _adapters[path]


_routes: dict[str, WebhookRoute] | None = None


def webhook_routes() -> dict[str, WebhookRoute]:
    """Every enabled provider's webhook routes by slug (a copy: the receiver looks a route up on
    every delivery, so the map is built once per process and again after any setting changes)."""
    global _routes
    routes = _routes
    if routes is None:
        routes = {route.slug: route for spec in all_enabled_specs() for route in spec.webhooks}
        _routes = routes
    return dict(routes)


def webhook_route(slug: str) -> WebhookRoute | None:
    """The enabled provider's route served at ``/webhooks/<slug>/``, if any (no copy made)."""
    if _routes is None:
        webhook_routes()
    return (_routes or {}).get(slug)


@receiver(setting_changed)
def _forget_routes(**kwargs: Any) -> None:
    """Settings change at run time only in tests (override_settings, pytest-django's
    ``settings``): a flag or a package list may have enabled or disabled a provider."""
    global _routes
    _routes = None


def active_providers(family: Family) -> dict[str, str]:
    """What the family's active setting selects: ``{"": name}`` for payments and shipping,
    ``{channel: name}`` for messaging, nothing for a family without an active provider."""
    if not family.active_setting:
        return {}
    value = getattr(settings, family.active_setting, None)
    if isinstance(value, Mapping):
        return {str(channel): str(name) for channel, name in value.items()}
    return {"": str(value or "")}


# Checks for common secret formats (each answers what is wrong, or None).


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def standard_webhooks_secret(value: Any) -> str | None:
    """``whsec_`` then the base64 of at least 24 bytes (Standard Webhooks)."""
    text = _text(value)
    if not text.startswith("whsec_"):
        return "must start with whsec_"
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return "must be whsec_ followed by base64"
    if len(key) < 24:
        return "must be whsec_ followed by the base64 of at least 24 random bytes"
    return None


def prefixed(*prefixes: str, min_length: int = 1) -> Check:
    """A token that starts with one of ``prefixes`` and has at least ``min_length`` characters
    after it, with no spaces."""

    def check(value: Any) -> str | None:
        text = _text(value)
        prefix = next((p for p in prefixes if text.startswith(p)), None)
        if prefix is None:
            return f"must start with {' or '.join(prefixes)}"
        if len(text) - len(prefix) < min_length:
            return f"has nothing (or too little) after {prefix}"
        if any(c.isspace() for c in text):
            return "must not contain spaces"
        return None

    return check


def token(*, min_length: int, max_length: int) -> Check:
    """An opaque token of ``min_length``-``max_length`` characters without spaces."""

    def check(value: Any) -> str | None:
        text = _text(value)
        if any(c.isspace() for c in text):
            return "must not contain spaces"
        if not min_length <= len(text) <= max_length:
            return f"must be {min_length}-{max_length} characters (it has {len(text)})"
        return None

    return check


def each(check: Check) -> Check:
    """Applies ``check`` to every item of a list setting (secrets kept during a rotation)."""

    def check_each(value: Any) -> str | None:
        items = value if isinstance(value, list | tuple) else [value]
        for position, item in enumerate(items, start=1):
            problem = check(item)
            if problem:
                return f"(value {position}) {problem}" if len(items) > 1 else problem
        return None

    return check_each


def comma_separated(check: Check) -> Check:
    """Applies ``check`` to every comma-separated item of a text setting (blanks ignored)."""

    def check_items(value: Any) -> str | None:
        return each(check)([item.strip() for item in _text(value).split(",") if item.strip()])

    return check_items


def https_url(value: Any) -> str | None:
    """An API base URL: https, or plain http on loopback only (local fakes and demos)."""
    if not _text(value).startswith(("https://", "http://127.0.0.1", "http://localhost")):
        return "must be an https:// URL"
    return None


def fernet_keys(value: Any) -> str | None:
    """One or more Fernet keys (url-safe base64 of 32 bytes), a list or comma-separated text:
    ``CREDENTIALS_KEYS``, which encrypts the provider credentials stored in the database."""
    items = value if isinstance(value, list | tuple) else _text(value).split(",")
    keys = [str(key).strip() for key in items if str(key).strip()]
    if not keys:
        return "must list at least one Fernet key"
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return f"(key {position}) is not a Fernet key (url-safe base64 of 32 bytes)"
    return None
