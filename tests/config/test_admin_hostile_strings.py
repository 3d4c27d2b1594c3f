"""Hostile strings stored in every text field render escaped on every admin page (issue 16
item 2, last sentence).

For every registered ModelAdmin, rows of its model (and of every model they point to) are
stored with each hostile string in every text and JSON field (a superset of what its
list_display, readonly fields and form show): the changelist and the change page of each answer
200 as a superuser, no hostile markup comes out raw, and the escaped markup is there (so the
check looked at something). Rows are written with ``bulk_create`` (no service, no ``save()``
rule), so the pages are shown values a service would have refused. A choice field holds a valid
choice (a status outside its choices is not a string a person can type anywhere); OVERRIDES and
TEMPLATE_FIELDS below are the few values a row cannot hold at all.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_staff

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
TEMPLATE = "{{7*7}}{% debug %}"
RTL = "\u202eexe.txt\u202c\u200f"
LONG = "Ww" * 3000
HOSTILE = [SCRIPT, IMG, TEMPLATE, RTL, LONG, SCRIPT + IMG + TEMPLATE + RTL]
# What must never come out raw.
RAW_MARKERS = ["<script>alert(1)", "<img src=x onerror"]

# Values a row must have to exist at all: a proxy's manager shows Success rows only; a check
# constraint ties a resend's reason to its previous message (none here); a rule's condition is
# an expression its form compiles before it is stored (a stored one that does not compile only
# lists its problem in the preview: tests/notifications/test_admin.py).
OVERRIDES: dict[str, dict[str, Any]] = {
    "django_q.Success": {"success": True},
    "notifications.Notification": {"previous_reason": ""},
    "notifications.NotificationRule": {"condition": ""},
    # A check constraint: net is amount less fee (both 1 here).
    "payments.SettlementLine": {"net": 0},
}

# Fields that hold a Django template staff write (the form compiles it before storing): the
# hostile text goes in as text of a template that compiles ({% verbatim %}), so the preview the
# change page renders from it must escape it too.
TEMPLATE_FIELDS = {
    "notifications.NotificationRule": {
        "subject_pt_br",
        "body_pt_br",
        "subject_en",
        "body_en",
        "attachment_source",
        "attachment_filename",
    },
}
VERBATIM = "{%% verbatim %%}%s{%% endverbatim %%}"

_counter = itertools.count(1)


def _unique_names(model: type[models.Model]) -> set[str]:
    names = {f.name for f in model._meta.concrete_fields if f.unique or f.primary_key}
    for constraint in model._meta.total_unique_constraints + [
        c for c in model._meta.constraints if isinstance(c, models.UniqueConstraint)
    ]:
        names |= set(constraint.fields)
    for together in model._meta.unique_together:
        names |= set(together)
    return names


def _text(field: models.Field, hostile: str) -> str:
    limit = getattr(field, "max_length", None) or len(hostile) + 16
    if field.name in TEMPLATE_FIELDS.get(field.model._meta.label, ()):
        room = field.max_length - len(VERBATIM) if field.max_length else len(hostile)
        return VERBATIM % hostile[:room]
    if field.name in _unique_names(field.model):
        suffix = f"-{next(_counter)}"
        return hostile[: max(limit - len(suffix), 0)] + suffix
    return hostile[:limit]


def _value(field: models.Field, hostile: str, cache: dict[type, Any]) -> Any:
    if field.choices:
        return (
            field.choices[0][0]
            if not isinstance(field.choices[0][1], (list, tuple))
            else (field.choices[0][1][0][0])
        )
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        related = field.related_model
        assert isinstance(related, type)  # resolved by the app registry
        if issubclass(related, ContentType):
            return ContentType.objects.get_for_model(ContentType)
        if isinstance(field, models.OneToOneField) or related not in cache:
            return _make(related, hostile, cache)
        return cache[related]
    if isinstance(field, models.EmailField):
        return f"x{next(_counter)}@example.test"
    if isinstance(field, models.URLField):
        return f"https://example.test/{next(_counter)}"
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.CharField | models.TextField):
        return _text(field, hostile)
    if isinstance(field, models.JSONField):
        return {"note": hostile, "items": [hostile]}
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DecimalField):
        return Decimal("1")
    if isinstance(field, models.DurationField):
        return timedelta(seconds=1)
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        # A unique date (an accounting period's month) differs per row.
        return date(2000 + next(_counter) % 1000, 1, 1) if field.unique else date(2026, 1, 1)
    if isinstance(field, models.IntegerField | models.FloatField):
        return next(_counter) if field.unique else 1
    if isinstance(field, models.BinaryField):
        return hostile.encode()
    return None


def _make(model: type[models.Model], hostile: str, cache: dict[type, Any]) -> models.Model:
    """One row of ``model`` with ``hostile`` in its text fields, written as it is."""
    values: dict[str, Any] = {}
    overrides = OVERRIDES.get(model._meta.label, {})
    for field in model._meta.concrete_fields:
        if isinstance(field, models.AutoField) or (field.primary_key and field.has_default()):
            continue
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        if field.null and not isinstance(field, models.CharField | models.TextField):
            continue  # a nullable link or value stays empty (and no self-reference loops)
        value = _value(field, hostile, cache)
        if value is None and (field.null or field.has_default()):
            continue
        values[field.attname if not isinstance(field, models.ForeignKey) else field.name] = value
    obj = model(**values)
    (created,) = model._default_manager.bulk_create([obj])
    assert created.pk is not None  # SQLite and PostgreSQL return the new row's key
    cache.setdefault(model, created)
    return created


@pytest.fixture
def superuser_client(db: None) -> Client:
    client = Client()
    client.force_login(make_staff("hostile-admin", is_superuser=True))
    return client


def _assert_escaped(response, where: str) -> None:
    assert response.status_code == 200, f"{where}: HTTP {response.status_code}"
    html = response.content.decode()
    for marker in RAW_MARKERS:
        assert marker not in html, f"{where}: {marker!r} came out raw"


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda model: model._meta.label)
def test_hostile_strings_render_escaped(superuser_client: Client, model) -> None:
    rows = []
    for hostile in HOSTILE:
        cache: dict[type, Any] = {}
        rows.append(_make(model, hostile, cache))
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = superuser_client.get(changelist)
    _assert_escaped(response, changelist)
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)" in html or not _shows_text(model), changelist
    shown = 0
    for row in rows:
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
        page = superuser_client.get(change)
        _assert_escaped(page, change)
        shown += "&lt;scr" in page.content.decode()
    # The markup is on the change pages, escaped (so the check above looked at something),
    # unless the model holds no free text at all (an accounting period: a month and a status).
    assert shown or not _holds_text(model), f"no hostile text on any change page of {opts.label}"


def _holds_text(model: type[models.Model]) -> bool:
    """Whether the model has a field a hostile string can be stored in."""
    return any(
        isinstance(f, models.CharField | models.TextField | models.JSONField) and not f.choices
        for f in model._meta.concrete_fields
    )


def _shows_text(model: type[models.Model]) -> bool:
    """Whether the changelist shows at least one text column of the model itself."""
    model_admin = admin.site._registry[model]
    names = {
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField) and not f.choices
    }
    return bool(names & set(model_admin.list_display))


def test_the_walk_finds_raw_markup():
    from django.http import HttpResponse

    with pytest.raises(AssertionError, match="came out raw"):
        _assert_escaped(HttpResponse(f"<p>{SCRIPT}</p>"), "a page that does not escape")
    _assert_escaped(HttpResponse("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"), "escaped")
