from integrations.exceptions import SwitchboardError


class RefundNotAllowed(SwitchboardError):
    """A refund request or decision the rules refuse (amount, currency, who decides)."""


class SelfApprovalForbidden(RefundNotAllowed):
    """Nobody approves or rejects their own refund request."""
