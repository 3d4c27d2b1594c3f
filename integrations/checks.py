"""Start-up checks of the provider settings (Django system checks, tag ``providers``).

``manage.py check``, ``runserver``, ``migrate``, ``qcluster`` and every other command run them
before they start; ``config/wsgi.py`` runs them when gunicorn loads the application, so no process
starts with a provider it cannot use. Each message names the variable to set; none shows a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from integrations.providers import (
    FAMILIES,
    Family,
    ProviderSpec,
    UnknownProvider,
    active_providers,
    load_spec,
    packages,
    specs,
)

TAG = "providers"
UNKNOWN = "providers.E001"
NOT_ENABLED = "providers.E002"
MISSING_SETTING = "providers.E003"
MALFORMED_SETTING = "providers.E004"
SANDBOX_IN_PRODUCTION = "providers.E005"
WRONG_FAMILY = "providers.E006"
DUPLICATE = "providers.E007"
CHANNEL_NOT_CARRIED = "providers.E008"


def _blank(value: Any) -> bool:
    """Unset: empty, spaces, or only separators (" , " lists no token)."""
    if isinstance(value, str):
        return not value.replace(",", "").strip()
    if isinstance(value, list | tuple):
        return not any(str(item).strip() for item in value)
    return value is None


def _package_errors(family: Family) -> Iterator[checks.CheckMessage]:
    seen: dict[str, str] = {}
    for package in packages(family):
        try:
            spec = load_spec(package)
        except UnknownProvider as exc:
            yield checks.Error(
                f"Unknown {family.label} package in {family.packages_setting}: {exc}",
                hint=f"Fix or remove {package!r} in {family.packages_setting}.",
                id=UNKNOWN,
            )
            continue
        if spec.family != family.name:
            yield checks.Error(
                f"{package!r} is a {spec.family} provider, listed in {family.packages_setting}.",
                hint=f"Move it to the {spec.family} list.",
                id=WRONG_FAMILY,
            )
        elif spec.name in seen:
            yield checks.Error(
                f"{family.packages_setting} lists two {family.label}s named {spec.name!r} "
                f"({seen[spec.name]!r} and {package!r}).",
                hint=f"Keep one of them in {family.packages_setting}.",
                id=DUPLICATE,
            )
        seen[spec.name] = package


def _active_errors(family: Family) -> Iterator[checks.CheckMessage]:
    listed = specs(family)
    for channel, name in active_providers(family).items():
        where = f"{family.active_setting}[{channel!r}]" if channel else family.active_setting
        spec = listed.get(name)
        if spec is None:
            known = ", ".join(sorted(listed)) or "none"
            yield checks.Error(
                f"{where} is {name!r}, which is not a {family.label} listed in "
                f"{family.packages_setting} (listed: {known}).",
                hint=f"Set {family.active_setting} to a listed provider, or add its package to "
                f"{family.packages_setting}.",
                id=UNKNOWN,
            )
        elif not spec.enabled:
            yield checks.Error(
                f"{where} is {name!r}, which is not enabled.",
                hint=f"Set {spec.enabled_by}=true, or choose an enabled provider.",
                id=NOT_ENABLED,
            )
        elif channel and spec.channels and channel not in spec.channels:
            yield checks.Error(
                f"{where} is {name!r}, which carries {', '.join(spec.channels)}, not {channel}.",
                hint=f"Set {family.active_setting} {channel}=<a provider that carries it>.",
                id=CHANNEL_NOT_CARRIED,
            )


def _secret_errors(spec: ProviderSpec) -> Iterator[tuple[str, checks.CheckMessage]]:
    """(variable, message) for each missing or malformed setting of an enabled provider."""
    for setting in spec.settings:
        value = getattr(settings, setting.name, None)
        if _blank(value):
            if setting.required:
                yield (
                    setting.variable,
                    checks.Error(
                        f"The {spec.family} provider {spec.name!r} is enabled ({spec.enabled_by}) "
                        f"but {setting.variable} is not set.",
                        hint=setting.help
                        or f"Set {setting.variable}, or turn {spec.enabled_by} off.",
                        id=MISSING_SETTING,
                    ),
                )
            continue
        problem = setting.check(value) if setting.check else None
        if problem:
            yield (
                setting.variable,
                checks.Error(
                    f"{setting.variable} (for the {spec.family} provider {spec.name!r}) {problem}.",
                    hint=setting.help
                    or f"Set {setting.variable} to the value the provider issued.",
                    id=MALFORMED_SETTING,
                ),
            )


def _one_of_errors(spec: ProviderSpec) -> Iterator[tuple[str, checks.CheckMessage]]:
    """(variables, message) for each group of settings of which none is set."""
    for group in spec.one_of:
        if all(_blank(getattr(settings, name, None)) for name in group):
            names = " or ".join(group)
            yield (
                names,
                checks.Error(
                    f"The {spec.family} provider {spec.name!r} is enabled ({spec.enabled_by}) "
                    f"but none of {names} is set.",
                    hint=f"Set {names}, or turn {spec.enabled_by} off.",
                    id=MISSING_SETTING,
                ),
            )


def _enabled_specs_once() -> Iterable[ProviderSpec]:
    for family in FAMILIES.values():
        yield from (spec for spec in specs(family).values() if spec.enabled)


@checks.register(TAG)
def check_providers(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for family in FAMILIES.values():
        errors += _package_errors(family)
        errors += _active_errors(family)
    reported: set[str] = set()  # one message per variable: the sandboxes share their secret
    for spec in _enabled_specs_once():
        for variable, message in (*_secret_errors(spec), *_one_of_errors(spec)):
            if variable not in reported:
                reported.add(variable)
                errors.append(message)
    if getattr(settings, "PRODUCTION", False) and not getattr(
        settings, "SANDBOX_IN_PRODUCTION", False
    ):
        sandboxes = [f"{s.family}/{s.name}" for s in _enabled_specs_once() if s.sandbox]
        if sandboxes:
            errors.append(
                checks.Error(
                    f"Sandbox providers are enabled in production: {', '.join(sandboxes)}.",
                    hint="Set SANDBOX_ENABLED=false, or SANDBOX_IN_PRODUCTION=true if a sandbox "
                    "is wanted here on purpose.",
                    id=SANDBOX_IN_PRODUCTION,
                )
            )
    return errors


def refuse_to_start_on_provider_errors() -> None:
    """Raise ImproperlyConfigured with every provider error (for servers that run no command,
    such as gunicorn loading ``config/wsgi.py``)."""
    from integrations.analytics.checks import check_analytics_settings

    errors = [
        m for m in [*check_providers(), *check_analytics_settings()] if m.level >= checks.ERROR
    ]
    if errors:
        raise ImproperlyConfigured(
            "Provider settings refused:\n"
            + "\n".join(f"  {m.id}: {m.msg} HINT: {m.hint}" for m in errors)
        )
