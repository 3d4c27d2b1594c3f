"""The send policy: before any provider call, send, defer or refuse a queued notification.

``decide`` holds the decision (consent, suppression, marketing opt-in, preferences, WhatsApp's
24-hour window and approved templates, quiet hours, the rate limit); ``services`` the writes
(refuse, defer, preferences, inbound WhatsApp messages); ``selectors`` the reads;
``quiet_hours`` the time arithmetic; ``templates`` the variables of approved WhatsApp templates.
``docs/messaging.md`` ("Send policy") says what each rule does.
"""
