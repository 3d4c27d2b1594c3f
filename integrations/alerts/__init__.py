"""Staff alerts: ops and finance told to Slack and by e-mail, one alert per object per window
(docs/staff-alerts.md)."""
