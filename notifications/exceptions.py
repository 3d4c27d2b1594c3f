"""Refusals of the notifications app (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import ProviderRejected, SwitchboardError


class NotificationNotAllowed(SwitchboardError):
    """A notification the rules refuse (unknown channel, blank template or body, a dedupe key
    too long, a sent mark without its provider). Nothing was written."""

    code = "notification_not_allowed"
    title = "Notification not allowed"


class InvalidRecipient(NotificationNotAllowed):
    """The customer has no address for the channel, or the address is not valid."""

    code = "invalid_recipient"
    http_status = 422
    title = "Invalid recipient"


class MessageIdMismatch(SwitchboardError):
    """A provider status names one of our notifications but another message id: flagged, never
    applied."""

    code = "message_id_mismatch"
    http_status = 422
    title = "Message id mismatch"


class RecipientSuppressed(ProviderRejected):
    """The address is on the e-mail suppression list (an earlier hard bounce or complaint):
    nothing is sent, the notification fails at once with this reason (terminal, not retried)
    until staff clear the address in the admin."""

    code = "recipient_suppressed"
    http_status = 422
    title = "Recipient suppressed"


class RecipientOptedOut(ProviderRejected):
    """The customer opted out of the channel: refused before any call when our consent ledger
    says so, or by the provider itself (Twilio's 21610 for a number that sent STOP), which the
    workflow then records in the ledger. Terminal: the notification fails with this reason."""

    code = "recipient_opted_out"
    http_status = 422
    title = "Recipient opted out"
