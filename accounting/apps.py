from django.apps import AppConfig


class AccountingConfig(AppConfig):
    name = "accounting"
    verbose_name = "Accounting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounting import checks  # noqa: F401 - registers the chart of accounts check
        from accounting.subscribers import SUBSCRIBERS
        from integrations.deliveries.registry import register_subscriber

        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
