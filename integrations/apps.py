from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from integrations import checks  # noqa: F401 - registers the provider checks
        from integrations.alerts import checks as alert_checks  # noqa: F401 - the Slack check
        from integrations.analytics import checks as analytics_checks  # noqa: F401
        from integrations.analytics.subscribers import SUBSCRIBERS as ANALYTICS
        from integrations.db_stats import analyze_after_migrate
        from integrations.deliveries.dispatch import enqueue_committed_deliveries
        from integrations.deliveries.registry import register_subscriber
        from integrations.events import domain_event_committed
        from integrations.forksafe import install_fork_hooks
        from integrations.schedules import (
            create_cache_tables_after_migrate,
            ensure_schedules_after_migrate,
        )
        from integrations.webhooks_out import events as _webhooks_out_events  # noqa: F401
        from integrations.webhooks_out.subscribers import SUBSCRIBERS as WEBHOOKS_OUT

        for subscriber in (*WEBHOOKS_OUT, *ANALYTICS):
            register_subscriber(subscriber)
        from django.db.models.signals import post_delete, post_save

        from integrations.models import WebhookEndpoint
        from integrations.webhooks_out.services import subscriptions_changed

        for signal in (post_save, post_delete):
            signal.connect(
                subscriptions_changed, sender=WebhookEndpoint, dispatch_uid="webhooks_out.subs"
            )
        install_fork_hooks()
        # Every deploy's `migrate` registers the periodic jobs (sweepers, prune, heartbeats) and
        # creates the database cache's table: no step of its own to forget.
        post_migrate.connect(
            ensure_schedules_after_migrate, sender=self, dispatch_uid="integrations.schedules"
        )
        post_migrate.connect(
            create_cache_tables_after_migrate, sender=self, dispatch_uid="integrations.cache_table"
        )

        post_migrate.connect(
            analyze_after_migrate, sender=self, dispatch_uid="integrations.analyze"
        )

        domain_event_committed.connect(
            enqueue_committed_deliveries, dispatch_uid="integrations.deliveries.enqueue"
        )
