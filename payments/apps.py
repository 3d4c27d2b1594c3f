from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.customers.search import register_customer_lookup
        from integrations.deliveries.registry import register_subscriber
        from payments import events  # noqa: F401 - registers the event types
        from payments.hub import register_hub_parts
        from payments.selectors import customer_ids_by_provider_id
        from payments.subscribers import SUBSCRIBERS

        register_customer_lookup(customer_ids_by_provider_id)
        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
        register_hub_parts()
        from payments.customer_data import register_customer_data

        register_customer_data()
