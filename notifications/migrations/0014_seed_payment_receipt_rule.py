"""Seed the ``payment_receipt`` rule (``notifications.default_rules.RECEIPT_RULE``): the customer's
receipt by e-mail when a payment succeeds. A row already there under that template key is left
alone."""

from django.db import migrations

from notifications.default_rules import RECEIPT_RULE


def seed_receipt_rule(apps, schema_editor):
    NotificationRule = apps.get_model("notifications", "NotificationRule")
    fields = {"fallback_minutes": 30, **RECEIPT_RULE}
    template = fields.pop("template")
    NotificationRule.objects.get_or_create(template=template, defaults=fields)


def unseed_receipt_rule(apps, schema_editor):
    NotificationRule = apps.get_model("notifications", "NotificationRule")
    NotificationRule.objects.filter(template=RECEIPT_RULE["template"]).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0013_send_policy_preferences_rate_limit_whatsapp_window")]

    operations = [migrations.RunPython(seed_receipt_rule, unseed_receipt_rule)]
