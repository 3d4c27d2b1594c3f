from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.customers.search import register_customer_lookup
        from integrations.deliveries.registry import register_subscriber
        from orders import events  # noqa: F401 - registers the event types
        from orders.selectors import customer_ids_by_order_number
        from orders.subscribers import SUBSCRIBERS

        register_customer_lookup(customer_ids_by_order_number)
        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
        from orders.customer_data import register_customer_data

        register_customer_data()
