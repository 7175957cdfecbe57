"""DLQ alerts reach a real HTTP receiver standing in for Slack: one per growth, hourly reminders."""

from __future__ import annotations

import json

from directorybolt.ops import alerts
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq
from tests.recovery.test_dlq import failed  # noqa: F401 - fixture


def test_one_alert_per_growth_then_hourly_reminder(failed, receiver, settings_env):  # noqa: F811
    settings_env(slack_webhook_url=f"{receiver.url}/hooks/T000/B000", dlq_reminder_s=3600)
    assert alerts.check_dead_letters(now=1000.0) == "alerted"
    assert len(receiver.requests) == 1
    text = json.loads(receiver.requests[0]["body"])["text"]
    assert "*1* open entries" in text and "SiteUnavailable ×1" in text and "directorybolt dlq replay" in text
    assert "Oldest:" in text
    assert alerts.check_dead_letters(now=1100.0) == "quiet"
    assert len(receiver.requests) == 1, "no growth, no alert"
    assert alerts.check_dead_letters(now=1000.0 + 3601) == "reminded"
    assert len(receiver.requests) == 2 and "still holds" in json.loads(receiver.requests[1]["body"])["text"]


def test_empty_dlq_sends_nothing(clean, receiver, settings_env):
    settings_env(slack_webhook_url=f"{receiver.url}/hook")
    assert alerts.check_dead_letters() == "empty" and receiver.requests == []


def test_growth_alerts_again(failed, receiver, settings_env):  # noqa: F811
    from directorybolt.core.errors import SiteUnavailable

    settings_env(slack_webhook_url=f"{receiver.url}/hook")
    alerts.check_dead_letters(now=10.0)
    job_id, _ = failed
    dlq.dead_letter(dlq.Failure("tasks.submission.submit_directory", None, [str(job_id), "b"], {}, None,
                                SiteUnavailable("500"), None, 4), HANDOFF)
    assert alerts.check_dead_letters(now=20.0) == "alerted"
    assert "*2* open entries" in json.loads(receiver.requests[-1]["body"])["text"]
