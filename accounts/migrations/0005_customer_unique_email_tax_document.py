"""One customer per e-mail (case-insensitively) and per CPF/CNPJ.

A database that already holds duplicates is refused before any constraint is added, with a
message that counts them and names the command that merges them (``manage.py merge_customers``,
a dry run by default, then ``--apply``); nothing is merged here, because which record to keep
and what moves is a decision staff should see first. Run the command, then migrate again.
"""

from typing import Any

import django.db.models.functions.text
from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


def refuse_duplicates(apps: Any, schema_editor: Any) -> None:
    Customer = apps.get_model("accounts", "Customer")
    emails = (
        Customer.objects.using(schema_editor.connection.alias)
        .exclude(email="")
        .values(address=Lower("email"))
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    documents = (
        Customer.objects.using(schema_editor.connection.alias)
        .exclude(tax_document="")
        .values("tax_document")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    email_count, document_count = emails.count(), documents.count()
    if email_count or document_count:
        # CommandError: `migrate` prints the message alone, without a traceback.
        raise CommandError(
            f"Cannot add the unique e-mail and CPF/CNPJ constraints on customers: "
            f"{email_count} e-mail address(es) (case-insensitively) and {document_count} "
            f"CPF/CNPJ(s) belong to more than one customer. Review the merge with "
            f"`python manage.py merge_customers` (a dry run), apply it with "
            f"`python manage.py merge_customers --apply`, then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_audit_api_keys"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="auditlogentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("login", "Login"),
                    ("login_failed", "Failed login"),
                    ("logout", "Logout"),
                    ("permission_denied", "Permission denied"),
                    ("admin_add", "Admin: added"),
                    ("admin_change", "Admin: changed"),
                    ("admin_delete", "Admin: deleted"),
                    ("export", "Export"),
                    ("webhook_replay", "Webhook replayed"),
                    ("refund_requested", "Refund requested"),
                    ("refund_approval_added", "Refund approval added"),
                    ("refund_approved", "Refund approved"),
                    ("refund_rejected", "Refund rejected"),
                    ("api_key_created", "API key created"),
                    ("api_key_revoked", "API key revoked"),
                    ("customer_merged", "Customers merged"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                condition=models.Q(("email", ""), _negated=True),
                name="customer_email_unique_ci",
                violation_error_code="duplicate_email",
                violation_error_message="A customer with this e-mail address already exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("tax_document", ""), _negated=True),
                fields=("tax_document",),
                name="customer_tax_document_unique",
                violation_error_code="duplicate_tax_document",
                violation_error_message="A customer with this CPF/CNPJ already exists.",
            ),
        ),
    ]
