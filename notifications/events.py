from integrations.events import EventType, register_event_types

register_event_types(
    EventType(
        "notification.queued",
        "Message queued",
        "{channel_label} '{template}' to {recipient} queued",
    ),
    EventType(
        "notification.sent",
        "Message sent",
        "{channel_label} '{template}' to {recipient} sent via {provider}",
    ),
    EventType(
        "notification.delivered",
        "Message delivered",
        "{channel_label} '{template}' to {recipient} delivered",
    ),
    EventType(
        "notification.read", "Message read", "{channel_label} '{template}' to {recipient} read"
    ),
    EventType(
        "notification.failed",
        "Message failed",
        "{channel_label} '{template}' to {recipient} failed: {error}",
    ),
)
