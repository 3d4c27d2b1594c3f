from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Customers and staff"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import events  # noqa: F401 - registers the event types
