from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.customers.search import register_customer_lookup
        from integrations.deliveries.registry import register_subscriber
        from notifications import events  # noqa: F401 - registers the event types
        from notifications.default_rules import seed_default_rules_after_migrate
        from notifications.hub import register_hub_parts
        from notifications.policy.admin import register_customer_page_parts
        from notifications.selectors import customer_ids_by_provider_message_id
        from notifications.subscribers import SUBSCRIBERS

        register_customer_lookup(customer_ids_by_provider_message_id)
        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
        register_hub_parts()
        post_migrate.connect(
            seed_default_rules_after_migrate, sender=self, dispatch_uid="notifications.rules"
        )
        register_customer_page_parts()
        from notifications.customer_data import register_customer_data

        register_customer_data()
