from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from accounts.customers.search import register_customer_lookup
        from integrations.deliveries.registry import register_subscriber
        from integrations.webhooks.registry import register_webhook_endpoint
        from payments import events  # noqa: F401 - registers the event types
        from payments.selectors import customer_ids_by_provider_id
        from payments.subscribers import SUBSCRIBERS

        register_customer_lookup(customer_ids_by_provider_id)
        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
        if settings.SANDBOX_ENABLED:
            from payments.providers.sandbox.webhooks import endpoint as sandbox

            register_webhook_endpoint(sandbox)
        if settings.STRIPE_ENABLED:
            from payments.providers.stripe.webhooks import endpoint as stripe

            register_webhook_endpoint(stripe)
        if settings.ASAAS_ENABLED:
            from payments.providers.asaas.webhooks import endpoint as asaas

            register_webhook_endpoint(asaas)
