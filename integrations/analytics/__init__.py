"""The analytics stream (issue 14, item 3; docs/analytics.md).

Every committed domain event, usage events included, can go to three sinks, each on by its
setting: Segment and PostHog through their official SDKs, and a warehouse directory of
daily-partitioned JSONL files with a schema version. One subscriber per sink (a Delivery row per
event and sink, written with the event only while the sink is on) runs ``analytics_event_export``;
the PII rules (``pii``) run on every record before it leaves. ``manage.py analytics_backfill``
sends past events with the same ids. Imports no domain app: apps describe their own events with
``register_analytics_source`` (the usage app does).
"""
