"""The storage evidence documents live on: ``STORAGES["evidence"]``, looked up lazily so a
settings change (tests, another deployment profile) applies without re-importing the models."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

EVIDENCE_STORAGE_ALIAS = "evidence"


class _EvidenceStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages[EVIDENCE_STORAGE_ALIAS]


_storage = _EvidenceStorage()


def evidence_storage() -> Storage:
    """The FileField's storage callable (migrations keep this reference, not a backend)."""
    return _storage  # type: ignore[return-value]


@receiver(setting_changed)
def _storages_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        _storage._wrapped = empty  # type: ignore[assignment]
