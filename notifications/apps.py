from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.search import register_customer_lookup
        from notifications import events  # noqa: F401 - registers the event types
        from notifications.selectors import customer_ids_by_provider_message_id

        register_customer_lookup(customer_ids_by_provider_message_id)
