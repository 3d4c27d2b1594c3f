from integrations.events import EventType, register_event_types

register_event_types(
    EventType("customer.created", "Customer created", "Customer {name} created"),
    EventType("customer.updated", "Customer updated", "Changed {fields}"),
    EventType("customer.identifier_linked", "Identifier linked", "{system} id {external_id}"),
    EventType("customer.merged", "Customers merged", "Merged {merged} into this customer"),
    EventType("note.added", "Note", "{excerpt}"),
)
