from integrations.events import EventType, register_event_types

register_event_types(
    EventType("order.placed", "Order placed", "{number}: {money}, {items} item(s)"),
    EventType("order.paid", "Order paid", "{number} paid"),
    EventType("order.fulfilling", "Order in fulfilment", "{number} being prepared"),
    EventType("order.shipped", "Order shipped", "{number} shipped"),
    EventType("order.delivered", "Order delivered", "{number} delivered"),
    EventType("order.cancelled", "Order cancelled", "{number} cancelled: {reason}"),
    EventType("order.refunded", "Order refunded", "{number} fully refunded"),
    EventType("order.flagged", "Order flagged", "{number}: {reason}"),
    EventType("usage.feature_used", "Product usage", "Used {feature}"),
    EventType("usage.signed_in", "Signed in to the product", "Signed in from {source}"),
)
