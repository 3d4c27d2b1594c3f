from integrations.events import EventType, register_event_types

register_event_types(
    EventType("payment.created", "Payment started", "{money} by {method} via {provider}"),
    EventType("payment.processing", "Payment processing", "{money} processing"),
    EventType("payment.succeeded", "Payment succeeded", "{money} received"),
    EventType("payment.failed", "Payment failed", "{money} failed: {reason}"),
    EventType("payment.cancelled", "Payment cancelled", "{money} cancelled"),
    EventType("payment.restored", "Payment restored", "{money} can be paid again"),
    EventType("payment.expired", "Payment expired", "{money} not paid in time: {reason}"),
    EventType("payment.reissued", "Payment reissued", "{money}: a new charge to pay"),
    EventType(
        "refund.approval_added", "Refund approval (1 of 2)", "{money} approved by {approver}"
    ),
    EventType(
        "dispute.opened", "Dispute opened", "{money} on {order}: {reason}, evidence due {due}"
    ),
    EventType("dispute.updated", "Dispute updated", "{money} on {order}: {status}"),
    EventType("dispute.won", "Dispute won", "{money} on {order}"),
    EventType("dispute.lost", "Dispute lost", "{money} on {order}"),
    EventType("dispute.closed", "Dispute closed", "{money} on {order}"),
    EventType("reconciliation.flagged", "Reconciliation exception", "{kind}: {detail}"),
    EventType("refund.requested", "Refund requested", "{money} requested: {reason}"),
    EventType("refund.approved", "Refund approved", "{money} approved"),
    EventType("refund.rejected", "Refund rejected", "{money} rejected: {reason}"),
    EventType("refund.processing", "Refund processing", "{money} sent to the provider"),
    EventType("refund.succeeded", "Refund succeeded", "{money} refunded"),
    EventType("refund.failed", "Refund failed", "{money} failed: {reason}"),
)
