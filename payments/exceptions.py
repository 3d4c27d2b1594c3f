from integrations.exceptions import SwitchboardError


class RefundNotAllowed(SwitchboardError):
    """A refund request or decision the rules refuse (amount, currency, who decides)."""


class SelfApprovalForbidden(RefundNotAllowed):
    """Nobody approves or rejects their own refund request."""


class ReauthenticationRequired(RefundNotAllowed):
    """Approving above the dual-approval threshold needs a re-authentication within
    ``SENSITIVE_ACTION_REAUTH_SECONDS``; none was given, or it is too old. Nothing was changed."""
