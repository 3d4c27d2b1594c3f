"""The rule admin's preview: a rule rendered server-side in each language from an example
payload (its event type's built example, or a recent event of that type)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.events import event_payload, get_event_type
from integrations.exceptions import UnknownEventType
from integrations.models import DomainEvent
from notifications.models import NotificationRule
from notifications.rules import (
    LANGUAGES,
    render_rule,
    rule_condition_holds,
    rule_context,
    rule_problems,
)

EXAMPLE_EVENTS = 10


@dataclass(frozen=True)
class PreviewText:
    language: str
    subject: str
    body: str
    attachment: str


@dataclass(frozen=True)
class RulePreview:
    source: str
    """What the payload came from: the built example, or which event."""
    texts: list[PreviewText] = field(default_factory=list)
    condition_holds: bool = True
    problems: list[str] = field(default_factory=list)
    """Why there is nothing to show (the form's errors)."""


def example_events(event_type: str) -> list[DomainEvent]:
    """The latest events of ``event_type``, to preview a rule with real data."""
    return list(DomainEvent.objects.filter(type=event_type).order_by("-id")[:EXAMPLE_EVENTS])


def _problems(errors: Mapping[str, Any]) -> list[str]:
    labels = {f.name: str(f.verbose_name) for f in NotificationRule._meta.fields}
    return [
        f"{labels.get(name, 'Rule') if name != '__all__' else 'Rule'}: {message}"
        for name, messages in errors.items()
        for message in messages
    ]


def rule_preview(
    rule: NotificationRule, *, example: str, problems: Mapping[str, Any] | None = None
) -> RulePreview:
    """``rule`` rendered in each language from the event ``example`` (a DomainEvent pk of the
    rule's type) or, blank, the built example payload. With ``problems`` (the form's errors)
    nothing is rendered: the preview lists them."""
    if problems is None:
        # A rule stored past the form (a data migration, the shell) may not compile: list
        # what is wrong instead of failing the page.
        problems = {name: [message] for name, message in rule_problems(rule).items()}
    if problems:
        return RulePreview(source="", problems=_problems(problems))
    try:
        payload = get_event_type(rule.event_type).payload.example()
    except UnknownEventType:
        return RulePreview(source="", problems=[f"Unknown event type {rule.event_type!r}."])
    source = f"Built example payload of {rule.event_type}"
    event = (
        DomainEvent.objects.filter(pk=int(example), type=rule.event_type).first()
        if example.isdigit()
        else None
    )
    if event is not None:
        payload = event_payload(event) or payload
        source = f"Event #{event.pk}: {event.subject_label or event.type}"
    texts = []
    for language in LANGUAGES:
        message = render_rule(rule, payload, language=language, customer_name="Ana", force=True)
        assert message is not None  # forced
        file = message.attachment
        texts.append(
            PreviewText(
                language={"pt-br": "Português (Brasil)", "en": "English"}[language],
                subject=message.subject,
                body=message.body,
                attachment=(
                    f"{file.kind}: {file.filename + ', ' if file.filename else ''}"
                    f"{file.source if not file.source.startswith('data:') else 'inline data'}"
                    if file is not None
                    else ""
                ),
            )
        )
    return RulePreview(
        source=source,
        texts=texts,
        condition_holds=rule_condition_holds(rule, rule_context(payload)),
    )
