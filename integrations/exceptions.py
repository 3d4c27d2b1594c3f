"""Expected failures shared by every app."""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base class for failures a caller is expected to handle."""


class InvalidTransition(SwitchboardError):
    """A status change that the entity's allowed-transitions map refuses. Nothing was changed."""

    def __init__(self, *, entity: str, current: str, target: str) -> None:
        self.entity = entity
        self.current = current
        self.target = target
        super().__init__(f"{entity} cannot go from '{current}' to '{target}'.")


class UnknownEventType(SwitchboardError):
    """record_event was given a type nobody registered."""
