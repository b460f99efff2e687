"""Alerts and reports that reach people: channels (e-mail, WeCom, DingTalk, Feishu), the alert
registry with routing, the outbox in the warehouse, and the scheduled reports.
See docs/notify.md."""
