"""Two default matching rules for payments and one for bank statement lines (finance edits them
under Matching rules)."""

from django.db import migrations

RULES = [
    {
        "name": "Same amount, order number in the reference, within 3 days",
        "sequence": 10,
        "amount_tolerance": 0,
        "date_window_days": 3,
        "reference_must_match": True,
        "line_kind": "",
    },
    {
        "name": "Same amount within 2 days",
        "sequence": 20,
        "amount_tolerance": 0,
        "date_window_days": 2,
        "reference_must_match": False,
        "line_kind": "",
    },
    {
        "name": "Bank statement line: the payouts arriving that day",
        "sequence": 30,
        "amount_tolerance": 0,
        "date_window_days": 2,
        "reference_must_match": False,
        "line_kind": "statement",
    },
]


def seed(apps, schema_editor):
    MatchingRule = apps.get_model("payments", "MatchingRule")
    for rule in RULES:
        MatchingRule.objects.get_or_create(name=rule["name"], defaults=rule)


def unseed(apps, schema_editor):
    MatchingRule = apps.get_model("payments", "MatchingRule")
    MatchingRule.objects.filter(name__in=[rule["name"] for rule in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0016_settlement_match_anchor_index")]

    operations = [migrations.RunPython(seed, unseed)]
