from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.customers.search import register_customer_lookup
        from orders import events  # noqa: F401 - registers the event types
        from orders.selectors import customer_ids_by_order_number

        register_customer_lookup(customer_ids_by_order_number)
