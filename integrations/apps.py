from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations.deliveries.dispatch import enqueue_committed_deliveries
        from integrations.events import domain_event_committed

        domain_event_committed.connect(
            enqueue_committed_deliveries, dispatch_uid="integrations.deliveries.enqueue"
        )
