"""Refusals about customers (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import SwitchboardError


class EmptyNote(SwitchboardError):
    """A staff note without text."""

    code = "empty_note"
    title = "Empty note"


class NothingToMerge(SwitchboardError):
    """A customer merge that names no customer other than the one kept."""

    code = "nothing_to_merge"
    title = "Nothing to merge"


class InvalidCursor(SwitchboardError):
    """A timeline page cursor that we did not hand out (or that no longer decodes)."""

    code = "invalid_cursor"
    title = "Invalid cursor"
