from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def seed_plan_after_migrate(sender: Any, **kwargs: Any) -> None:
    """``post_migrate`` receiver: an empty tracking plan (a new database, or one flushed) gets
    the event names the single-event endpoint took before the plan existed."""
    from usage.plan import seed_empty_plan

    seed_empty_plan(using=kwargs.get("using", "default"))


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
        post_migrate.connect(seed_plan_after_migrate, sender=self, dispatch_uid="usage.seed_plan")
        from usage.customer_data import register_customer_data

        register_customer_data()
        from usage.analytics import register_usage_analytics

        register_usage_analytics()
