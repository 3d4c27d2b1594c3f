from __future__ import annotations

from django.db import models


class ProviderCredential(models.Model):
    """A provider token or secret that is not a plain setting (an OAuth access or refresh token
    with its expiry), encrypted at rest with ``CREDENTIALS_KEYS`` (``integrations.credentials``).
    Only the services there read or write ``ciphertext``; the admin never shows it."""

    provider = models.CharField(max_length=40, help_text="Registry name, e.g. melhor_envio.")
    name = models.CharField(max_length=60, help_text="What it is, e.g. access_token.")
    ciphertext = models.TextField(help_text="Fernet token of the value; never shown.")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="credential_provider_name")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.name}"

    def __repr__(self) -> str:
        return f"<ProviderCredential {self.provider} {self.name}>"
