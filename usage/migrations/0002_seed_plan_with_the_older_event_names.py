"""The tracking plan starts with the two event names the single-event endpoint took before
(feature_used, signed_in), so the product's existing calls keep being accepted."""

from django.db import migrations

SEED = [
    ("feature_used", "A feature of the product was used.", "feature", [("feature", "string")]),
    ("signed_in", "The customer signed in to the product.", "", [("source", "string")]),
]


def seed(apps, schema_editor):
    TrackedEvent = apps.get_model("usage", "TrackedEvent")
    TrackedProperty = apps.get_model("usage", "TrackedProperty")
    for name, description, feature_property, properties in SEED:
        event, created = TrackedEvent.objects.get_or_create(
            name=name,
            defaults={
                "description": description,
                "feature_property": feature_property,
                "additional_properties": True,
            },
        )
        if created:
            for prop, kind in properties:
                TrackedProperty.objects.create(event=event, name=prop, type=kind, required=False)


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
