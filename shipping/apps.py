from django.apps import AppConfig


class ShippingConfig(AppConfig):
    name = "shipping"
    verbose_name = "Shipping"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.customers.search import register_customer_lookup
        from integrations.deliveries.registry import register_subscriber
        from shipping import events  # noqa: F401 - registers the event types
        from shipping.hub import register_hub_parts
        from shipping.selectors import customer_ids_by_tracking_or_provider_id
        from shipping.subscribers import SUBSCRIBERS

        register_customer_lookup(customer_ids_by_tracking_or_provider_id)
        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
        register_hub_parts()
        from shipping.customer_data import register_customer_data

        register_customer_data()
