from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Customers and staff"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_save

        from accounts import events  # noqa: F401
        from accounts.access import audit, reauth  # noqa: F401 - event types; reauth: receiver
        from accounts.access.middleware import restart_session_clock
        from integrations.audit_hook import register_audit_recorder

        user_logged_in.connect(audit.on_user_logged_in, dispatch_uid="audit_login")
        user_logged_in.connect(restart_session_clock, dispatch_uid="session_clock_login")
        user_logged_out.connect(audit.on_user_logged_out, dispatch_uid="audit_logout")
        user_login_failed.connect(audit.on_user_login_failed, dispatch_uid="audit_login_failed")
        # Django's admin announces each committed add/change/delete with a LogEntry.
        post_save.connect(audit.on_admin_log_entry, sender=LogEntry, dispatch_uid="audit_admin")
        register_audit_recorder(audit.audit_record)

        from accounts.crm.hubspot.subscribers import SUBSCRIBERS
        from accounts.crm.summary import crm_summary, plan_summary
        from accounts.customers.health import customer_health
        from accounts.customers.summary import (
            register_customer_summary_derived_part,
            register_customer_summary_part,
        )
        from accounts.customers.timeline_search import register_note_search
        from integrations.deliveries.registry import register_subscriber

        for subscriber in SUBSCRIBERS:
            register_subscriber(subscriber)
        register_customer_summary_part("crm", crm_summary)
        register_customer_summary_part("plan", plan_summary)
        register_customer_summary_derived_part("health", customer_health)
        register_note_search()
