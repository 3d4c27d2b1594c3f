from __future__ import annotations

import pytest

from tests.notifications.policy_fixtures import policy_post_twilio, policy_twilio  # noqa: F401
from tests.support.shipping import EmitRecorder  # generic sandbox helpers, shared


@pytest.fixture
def emitted(db: None, monkeypatch: pytest.MonkeyPatch) -> EmitRecorder:
    """What the sandbox WhatsApp provider asks ``sandbox_emit`` to send. Needs the test
    transaction: the real ``sandbox_emit`` schedules the deliveries on commit, which never
    comes."""
    recorder = EmitRecorder()
    monkeypatch.setattr("notifications.channels.sandbox.adapter.sandbox_emit", recorder)
    return recorder
