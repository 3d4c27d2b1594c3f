"""Where dispute evidence documents are stored (``STORAGES["evidence"]``).

Local files under ``MEDIA_ROOT`` by default (never served by URL: finance downloads them through
the admin). ``EVIDENCE_STORAGE_BACKEND=s3`` stores them on any S3-compatible store through
django-storages: Amazon S3, or Cloudflare R2 and the like by ``EVIDENCE_S3_ENDPOINT_URL`` (R2:
``https://<account id>.r2.cloudflarestorage.com`` with region ``auto``). The keys come from the
environment only; objects are private (no ACL, signed URLs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

LOCAL_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "storages.backends.s3.S3Storage"
BACKENDS = ("local", "s3")


def evidence_storage_from_env(env: environ.Env, media_root: Path) -> dict[str, Any]:
    """The ``STORAGES["evidence"]`` entry the environment asks for. Raises ImproperlyConfigured
    for an unknown backend or S3 without a bucket."""
    backend = env.str("EVIDENCE_STORAGE_BACKEND", default="local").strip().lower()
    if backend not in BACKENDS:
        raise ImproperlyConfigured(
            f"EVIDENCE_STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}."
        )
    if backend == "local":
        return {
            "BACKEND": LOCAL_BACKEND,
            "OPTIONS": {
                "location": str(media_root / "dispute-evidence"),
                "base_url": None,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        }
    bucket = env.str("EVIDENCE_S3_BUCKET", default="")
    if not bucket:
        raise ImproperlyConfigured("EVIDENCE_STORAGE_BACKEND=s3 needs EVIDENCE_S3_BUCKET.")
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "location": env.str("EVIDENCE_S3_PREFIX", default="dispute-evidence"),
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": 300,
        "file_overwrite": False,
    }
    optional = {
        "endpoint_url": "EVIDENCE_S3_ENDPOINT_URL",
        "region_name": "EVIDENCE_S3_REGION",
        "access_key": "EVIDENCE_S3_ACCESS_KEY_ID",
        "secret_key": "EVIDENCE_S3_SECRET_ACCESS_KEY",
    }
    for option, name in optional.items():
        value = env.str(name, default="")
        if value:
            options[option] = value
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}
