"""The webhook inbox: receive, verify, store, dedupe; then claim and process."""
