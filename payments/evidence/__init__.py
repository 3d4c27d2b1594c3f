"""Dispute evidence (issue 15 item 8): finance assembles it in the admin, it is submitted to the
provider before the deadline, and finance is reminded 3 days and 1 day before it."""
