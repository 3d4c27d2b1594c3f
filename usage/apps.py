from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Product usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.deliveries.registry import register_subscriber
        from usage import events  # noqa: F401 - registers the event types
        from usage.subscribers import SUBSCRIBERS

        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
