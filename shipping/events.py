from integrations.events import EventType, register_event_types

register_event_types(
    EventType("shipment.created", "Shipment created", "{order}: shipment via {carrier} created"),
    EventType(
        "shipment.label_purchased",
        "Shipping label purchased",
        "{carrier} {tracking_code}: label purchased for {order}",
    ),
    EventType(
        "shipment.posted", "Shipment posted", "{carrier} {tracking_code}: posted{at_location}"
    ),
    EventType(
        "shipment.in_transit",
        "Shipment in transit",
        "{carrier} {tracking_code}: in transit{at_location}",
    ),
    EventType(
        "shipment.out_for_delivery",
        "Shipment out for delivery",
        "{carrier} {tracking_code}: out for delivery{at_location}",
    ),
    EventType(
        "shipment.delivered",
        "Shipment delivered",
        "{carrier} {tracking_code}: delivered{at_location}",
    ),
    EventType(
        "shipment.delivery_failed",
        "Delivery failed",
        "{carrier} {tracking_code}: delivery failed{at_location}{detail}",
    ),
    EventType(
        "shipment.returned",
        "Shipment returned",
        "{carrier} {tracking_code}: returned to sender{at_location}",
    ),
    EventType(
        "shipment.available_for_pickup",
        "Shipment available for pickup",
        "{carrier} {tracking_code}: available for pickup{at_location}",
    ),
    EventType("shipment.lost", "Shipment lost", "{carrier} {tracking_code}: lost{detail}"),
    EventType(
        "shipment.tracking_update",
        "Tracking update",
        "{carrier} {tracking_code}: {status_label}{code}{at_location}{detail}",
    ),
    EventType(
        "shipment.cancelled",
        "Shipment cancelled",
        "{order}: {carrier} shipment cancelled: {reason}",
    ),
)
