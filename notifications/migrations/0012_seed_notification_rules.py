"""Seed the default notification rules (``notifications.default_rules``): the customer messages
that were Python functions become rows, so behaviour stays; rows already there under the same
template key are left alone."""

from django.db import migrations

from notifications.default_rules import DEFAULT_RULES, seed_default_rules


def seed_rules(apps, schema_editor):
    seed_default_rules(apps.get_model("notifications", "NotificationRule"))


def unseed_rules(apps, schema_editor):
    NotificationRule = apps.get_model("notifications", "NotificationRule")
    NotificationRule.objects.filter(template__in=[r["template"] for r in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0011_notification_rule")]

    operations = [migrations.RunPython(seed_rules, unseed_rules)]
