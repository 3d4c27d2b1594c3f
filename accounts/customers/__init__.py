"""Customers: records, identifiers, notes, search and the timeline read side."""
