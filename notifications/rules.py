"""Which domain event sends what to the customer: ``NotificationRule`` rows, edited in the admin.

A rule's texts are Django template strings rendered with the event's typed payload
(``integrations.events.event_payload``): its fields and properties (``{{ order }}``,
``{{ money }}``), plus ``customer_name`` and the filters of this module (``money``, ``https``,
``isodate``). They are rendered without HTML escaping (WhatsApp and SMS are plain text; the
e-mail templates escape what they show). Rendering costs no query beyond reading the rule rows.

``rule_problems`` is the validation the admin runs on save and on preview: a syntax error, a
variable the event's payload does not have, an unknown channel. The rule rows are read at every
event (one indexed query, no per-process cache), so an edit in the admin takes effect at the next
event; only compiled templates are cached, by their source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.template import Context, Engine, Library, Template, TemplateSyntaxError
from django.template.base import FilterExpression, Node, Variable, VariableNode
from django.template.defaulttags import ForNode, IfNode, TemplateLiteral, WithNode
from django.utils import translation

from integrations.events import Payload, event_payload, get_event_type, payload_fields
from integrations.exceptions import UnknownEventType
from integrations.models import DomainEvent
from integrations.money import format_money
from notifications.channels.base import Attachment
from notifications.models import AttachmentKind, NotificationChannel, NotificationRule

LANGUAGES = ("pt-br", "en")
TEXT_FIELDS = ("subject_pt_br", "body_pt_br", "subject_en", "body_en")
ATTACHMENT_FIELDS = ("attachment_source", "attachment_filename")
HELPER_NAMES = frozenset({"customer_name", "True", "False", "None"})
"""Names every rule may use besides its payload's fields and properties."""

register = Library()


@register.filter
def money(amount: Any, currency: Any) -> str:
    """``{{ amount|money:currency }}``: minor units as the customer reads them (R$ 19,99)."""
    if not isinstance(amount, int) or not currency:
        return ""
    return format_money(amount, str(currency))


@register.filter
def https(url: Any) -> str:
    """``{{ retry_url|https }}``: the URL when it is https://, else nothing (never an unsafe
    link in a message)."""
    text = str(url or "")
    return text if text.startswith("https://") and not any(c.isspace() for c in text) else ""


@register.filter
def isodate(value: Any) -> date | str:
    """``{{ due|isodate|date:"j F Y" }}``: an ISO 8601 date string as a date (for Django's
    ``date`` filter, whose month names follow the message's language); '' when unreadable."""
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return ""


@lru_cache(maxsize=1)
def _engine() -> Engine:
    return Engine(
        autoescape=False,
        builtins=[
            "django.template.defaulttags",
            "django.template.defaultfilters",
            "django.template.loader_tags",
            __name__,
        ],
    )


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return _engine().from_string(source)


def _condition_source(condition: str) -> str:
    return "{% if " + condition + " %}1{% endif %}"


@dataclass(frozen=True)
class CustomerMessage:
    template: str
    subject: str
    body: str
    order: str = ""
    """The number of the order the message is about (empty: none)."""
    attachment: Attachment | None = None
    """A file sent with the message where the channel carries files (the boleto PDF, the Pix
    QR code); the body is then its caption."""
    category: str = "transactional"
    urgent: bool = False
    channels: tuple[str, ...] = ()
    """The rule's channels in order of preference."""
    fallback_minutes: int = 30


# The context -----------------------------------------------------------------------------------


def payload_names(payload_class: type[Payload]) -> frozenset[str]:
    """What a rule's templates may name for this payload: its fields, its properties and the
    helpers."""
    properties = {
        name for name in dir(payload_class) if isinstance(getattr(payload_class, name), property)
    }
    return frozenset(payload_fields(payload_class)) | properties | HELPER_NAMES


def rule_context(payload: Payload, *, customer_name: str = "") -> dict[str, Any]:
    properties = {
        name: getattr(payload, name)
        for name in dir(type(payload))
        if isinstance(getattr(type(payload), name), property)
    }
    return {**payload.as_data(), **properties, "customer_name": customer_name}


def rule_language(language: str) -> str:
    """``language`` when rules have texts in it, else ``CUSTOMER_DEFAULT_LANGUAGE``, else en."""
    for candidate in (language.lower(), str(settings.CUSTOMER_DEFAULT_LANGUAGE).lower()):
        if candidate in LANGUAGES:
            return candidate
    return "en"


def _suffix(language: str) -> str:
    return language.replace("-", "_")


def _order_number(payload: Payload) -> str:
    for name in ("order", "number"):
        value = getattr(payload, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


# Validation ------------------------------------------------------------------------------------


def _expression_names(expression: Any) -> Iterator[str]:
    if not isinstance(expression, FilterExpression):
        return
    if isinstance(expression.var, Variable) and expression.var.lookups:
        yield expression.var.lookups[0]
    for _, args in expression.filters:
        for is_variable, argument in args:
            if is_variable and isinstance(argument, Variable) and argument.lookups:
                yield argument.lookups[0]


def _condition_names(condition: Any) -> Iterator[str]:
    if condition is None:
        return
    if isinstance(condition, TemplateLiteral):
        yield from _expression_names(condition.value)
        return
    for side in ("first", "second"):
        yield from _condition_names(getattr(condition, side, None))


def _used_names(nodes: Iterable[Node], bound: frozenset[str]) -> Iterator[str]:
    """The context names the nodes read, less those a {% for %} or {% with %} binds."""
    for node in nodes:
        inner = bound
        if isinstance(node, VariableNode):
            yield from _expression_names(node.filter_expression)
        elif isinstance(node, IfNode):
            for condition, _ in node.conditions_nodelists:
                yield from _condition_names(condition)
        elif isinstance(node, ForNode):
            yield from _expression_names(node.sequence)
            inner = bound | frozenset(node.loopvars) | {"forloop"}
        elif isinstance(node, WithNode):
            for expression in node.extra_context.values():
                yield from _expression_names(expression)
            inner = bound | frozenset(node.extra_context)
        for attribute in node.child_nodelists:
            yield from (
                name
                for name in _used_names(getattr(node, attribute, None) or [], inner)
                if name not in inner
            )


def _template_problem(source: str, allowed: frozenset[str]) -> str:
    try:
        template = _compile(source)
    except TemplateSyntaxError as exc:
        return f"Template error: {exc}"
    unknown = sorted({n for n in _used_names(template.nodelist, frozenset()) if n not in allowed})
    if unknown:
        listed = ", ".join(f"'{name}'" for name in unknown)
        return (
            f"Unknown variable {listed}: this event's payload has "
            f"{', '.join(sorted(allowed - HELPER_NAMES))}, and customer_name."
        )
    return ""


def _channels_problem(channels: list[str]) -> str:
    unknown = [c for c in channels if c not in NotificationChannel.values]
    if unknown:
        return f"Unknown channel {', '.join(unknown)}: use {', '.join(NotificationChannel.values)}."
    if not channels:
        return "Name at least one channel."
    if len(set(channels)) != len(channels):
        return "Name each channel once."
    return ""


def rule_problems(rule: NotificationRule) -> dict[str, str]:
    """What is wrong with ``rule``, by field name (empty: nothing). Checks every template
    compiles and names only what the event's payload carries, the condition likewise, the
    channels, and that the rule renders with its event type's example payload."""
    try:
        event_type = get_event_type(rule.event_type)
    except UnknownEventType:
        return {"event_type": f"Unknown event type {rule.event_type!r}."}
    allowed = payload_names(event_type.payload)
    problems: dict[str, str] = {}
    for field in (*TEXT_FIELDS, *ATTACHMENT_FIELDS):
        problem = _template_problem(getattr(rule, field) or "", allowed)
        if problem:
            problems[field] = problem
    if rule.condition.strip():
        problem = _template_problem(_condition_source(rule.condition.strip()), allowed)
        if problem:
            problems["condition"] = problem.replace("Template error: ", "Condition error: ")
    problem = _channels_problem(rule.channel_list)
    if problem:
        problems["channels"] = problem
    if bool(rule.attachment_kind) != bool(rule.attachment_source.strip()):
        problems["attachment_source"] = "An attachment needs both a kind and a source."
    if not problems:
        for language in LANGUAGES:
            try:
                render_rule(rule, event_type.payload.example(), language=language, force=True)
            except Exception as exc:  # any failure of a filter is the form's error
                problems[f"body_{_suffix(language)}"] = f"Rendering failed: {exc}"
    return problems


# Rendering -------------------------------------------------------------------------------------


def _render(source: str, context: Mapping[str, Any]) -> str:
    return _compile(source).render(Context(dict(context), autoescape=False)).strip()


def rule_condition_holds(rule: NotificationRule, context: Mapping[str, Any]) -> bool:
    condition = rule.condition.strip()
    return not condition or _render(_condition_source(condition), context) == "1"


def _attachment(rule: NotificationRule, context: Mapping[str, Any]) -> Attachment | None:
    if rule.attachment_kind not in AttachmentKind.values or not rule.attachment_source:
        return None
    source = _render(rule.attachment_source, context)
    if not (source.startswith("https://") or source.startswith("data:")):
        return None  # nothing to send (no QR code for this payment, say)
    return Attachment(
        kind=rule.attachment_kind,
        source=source,
        filename=_render(rule.attachment_filename, context),
    )


SUBJECT_MAX_LENGTH = 200
"""A rendered subject longer than this (``Notification.subject``) is cut with an ellipsis."""


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_MAX_LENGTH else line[: SUBJECT_MAX_LENGTH - 1] + "…"


def render_rule(
    rule: NotificationRule,
    payload: Payload,
    *,
    language: str,
    customer_name: str = "",
    force: bool = False,
) -> CustomerMessage | None:
    """The message ``rule`` makes of ``payload`` in ``language`` (pt-br or en; another falls
    back as ``rule_language`` says), or None when its condition does not hold (``force``:
    render anyway, for a preview)."""
    context = rule_context(payload, customer_name=customer_name)
    if not force and not rule_condition_holds(rule, context):
        return None
    suffix = _suffix(rule_language(language))
    with translation.override(rule_language(language)):
        subject = _one_line(_render(getattr(rule, f"subject_{suffix}"), context))
        body = _render(getattr(rule, f"body_{suffix}"), context)
        attachment = _attachment(rule, context)
    return CustomerMessage(
        template=rule.template,
        subject=subject,
        body=body,
        order=_order_number(payload),
        attachment=attachment,
        category=rule.category,
        urgent=rule.urgent,
        channels=tuple(rule.channel_list),
        fallback_minutes=rule.fallback_minutes,
    )


def active_rules(event_type: str) -> list[NotificationRule]:
    """The active rules of ``event_type``, in the order they are tried (one query)."""
    return list(NotificationRule.objects.filter(event_type=event_type, active=True).order_by("id"))


def customer_message_for(
    event: DomainEvent,
    *,
    language: str = "",
    customer_name: str = "",
    rules: list[NotificationRule] | None = None,
) -> CustomerMessage | None:
    """The message ``event`` sends to its customer in ``language`` (blank: the default): the
    first of ``rules`` (default: the active rules of its type) whose condition holds; None when
    there is none."""
    payload = event_payload(event)
    if payload is None:
        return None
    for rule in active_rules(event.type) if rules is None else rules:
        message = render_rule(rule, payload, language=language, customer_name=customer_name)
        if message is not None:
            return message
    return None
