"""bot/server.py's change to stock Rasa: action-server replies are checked against Rasa's
response schema with a validator built once, not one rebuilt (and its schema re-checked)
on every reply."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

from bot.server import check_action_replies_with_a_compiled_schema

VALID_REPLY = {
    "events": [{"event": "slot", "name": "visit_type", "value": "2", "timestamp": None}],
    "responses": [{"text": "Which visit type?", "buttons": []}],
}


@pytest.fixture
def patched(monkeypatch):
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    check_action_replies_with_a_compiled_schema()
    return RemoteAction("action_test", None)


def test_valid_replies_pass_without_re_checking_the_schema(patched, monkeypatch):
    checks = []
    cls = validator_for(RemoteAction.action_response_format_spec())
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, schema, *a, **k: checks.append(1)))
    for _ in range(5):
        assert patched._validate_action_result(VALID_REPLY) is True
    assert checks == []


def test_an_invalid_reply_is_refused_with_rasas_own_error(patched):
    with pytest.raises(ValidationError) as error:
        patched._validate_action_result({"events": [{"event": "slot", "name": 3}], "responses": "nope"})
    assert "Failed to validate Action server response" in error.value.message
