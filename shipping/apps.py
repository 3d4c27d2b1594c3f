from django.apps import AppConfig


class ShippingConfig(AppConfig):
    name = "shipping"
    verbose_name = "Shipping"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.search import register_customer_lookup
        from shipping import events  # noqa: F401 - registers the event types
        from shipping.selectors import customer_ids_by_tracking_or_provider_id

        register_customer_lookup(customer_ids_by_tracking_or_provider_id)
