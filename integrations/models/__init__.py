from integrations.models.alerts import SendStatus, StaffAlert, StaffAlertKind
from integrations.models.calls import CircuitBreaker, ProviderCall
from integrations.models.core import AppendOnlyQuerySet, DomainEvent, TaskHeartbeat
from integrations.models.credentials import ProviderCredential
from integrations.models.deliveries import Delivery
from integrations.models.sandbox import SandboxWebhook
from integrations.models.webhooks import (
    WebhookArrival,
    WebhookArrivalMark,
    WebhookEvent,
    WebhookRejection,
)
from integrations.models.webhooks_out import WebhookAttempt, WebhookEndpoint, WebhookMessage

__all__ = [
    "AppendOnlyQuerySet",
    "CircuitBreaker",
    "Delivery",
    "DomainEvent",
    "ProviderCall",
    "ProviderCredential",
    "SandboxWebhook",
    "SendStatus",
    "StaffAlert",
    "StaffAlertKind",
    "TaskHeartbeat",
    "WebhookArrival",
    "WebhookArrivalMark",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookMessage",
    "WebhookRejection",
]
