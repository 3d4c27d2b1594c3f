"""The accounting journal: double-entry lines for every money movement (docs/accounting.md)."""
