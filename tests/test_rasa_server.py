"""bot/server.py's changes to stock Rasa: action-server replies are checked against Rasa's
response schema with a validator built once, not one rebuilt (and its schema re-checked)
on every reply; a model that cannot be loaded stops the server instead of leaving it
answering nothing; RASA_API_TOKEN guards the API but not /status and /model/parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

from bot.server import check_action_replies_with_a_compiled_schema
from tests.harness import REPO_ROOT

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


# --- The Rasa server process as a practice starts it (ports 184xx: kept clear of the suite's) ---

API_TOKEN = "test-api-token-4b1d"


def _rasa_server(var_dir, port, **env):
    var_dir.mkdir(parents=True, exist_ok=True)
    full_env = {key: value for key, value in os.environ.items()
                if key not in ("RASA_API_TOKEN", "REDIS_URL", "MODEL_DIR")}
    full_env.update({"VAR_DIR": str(var_dir), "PORT": str(port), "ACTIONS_PORT": str(port + 1),
                     "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false", **env})
    # Output to a file: an unread pipe fills up and stalls the server.
    with open(var_dir / "rasa.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "bot.server"], cwd=REPO_ROOT, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.e2e
def test_the_rasa_server_exits_with_instructions_when_the_model_cannot_load(tmp_path):
    """A broken model used to leave the server up, answering [] to everything (emergencies too)."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "clinic.tar.gz").write_text("x\n")
    proc = _rasa_server(tmp_path / "var", 18401, MODEL_DIR=str(models))
    try:
        proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        _stop(proc)
        pytest.fail("the Rasa server kept running with a model it could not load")
    text = (tmp_path / "var" / "rasa.log").read_text(errors="replace")
    assert proc.returncode != 0
    assert f"{models / 'clinic.tar.gz'} could not be loaded" in text
    assert "make train" in text
    assert "Rasa server is up and running" not in text


def _request(port, path, body=None, headers=None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json", **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture(scope="module")
def server_with_api_token(tmp_path_factory):
    port = 18403
    var_dir = tmp_path_factory.mktemp("token-var")
    proc = _rasa_server(var_dir, port, RASA_API_TOKEN=API_TOKEN)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, (var_dir / "rasa.log").read_text(errors="replace")[-3000:]
            try:
                status, body = _request(port, f"/status?token={API_TOKEN}")
                if status == 200 and json.loads(body).get("model_file"):
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            pytest.fail("the Rasa server did not load its model in 300 s")
        yield port
    finally:
        _stop(proc)


@pytest.mark.e2e
def test_with_an_api_token_status_and_parse_stay_open(server_with_api_token):
    """Load balancers poll /status and the NLU contract is POST /model/parse: neither has the token."""
    port = server_with_api_token
    status, body = _request(port, "/status")
    assert status == 200, body[:300]
    assert json.loads(body)["model_file"]
    status, body = _request(port, "/model/parse", json.dumps({"text": "I want to book an appointment"}).encode())
    assert status == 200, body[:300]
    assert json.loads(body)["intent"]["name"] == "book_appointment"
    status, _ = _request(port, "/version")
    assert status == 200


@pytest.mark.e2e
def test_with_an_api_token_the_rest_of_the_api_needs_it_by_query_or_bearer(server_with_api_token):
    port = server_with_api_token
    assert _request(port, "/domain")[0] == 403
    assert _request(port, "/domain?token=wrong")[0] == 403
    assert _request(port, "/domain", headers={"Authorization": "Bearer wrong"})[0] == 403
    assert _request(port, f"/domain?token={API_TOKEN}")[0] == 200
    assert _request(port, "/domain", headers={"Authorization": f"Bearer {API_TOKEN}"})[0] == 200
    assert _request(port, "/conversations/someone/tracker")[0] == 403
