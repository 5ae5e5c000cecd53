"""`python -m bot run` as a practice runs it: a crash of either server is reported and
stops the other, so a half-running assistant never looks healthy."""

import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.harness import REPO_ROOT, RunningAssistant

pytestmark = pytest.mark.e2e


def test_a_crashed_action_server_is_reported_and_stops_the_rasa_server(tmp_path):
    assistant = RunningAssistant(tmp_path, port=5705, actions_port=5755).start()
    try:
        children = psutil.Process(assistant.proc.pid).children()
        action_server = next(c for c in children if "actions.server" in " ".join(c.cmdline()))
        rasa_server = next(c for c in children if "bot.server" in " ".join(c.cmdline()))
        action_server.send_signal(signal.SIGKILL)
        assert assistant.proc.wait(timeout=60) == 1
        time.sleep(0.5)
        assert not rasa_server.is_running() or rasa_server.status() == psutil.STATUS_ZOMBIE
    finally:
        assistant.stop()
    assert "action server stopped unexpectedly" in assistant.stderr_path.read_text()


# Ports 184xx: kept clear of the ports the rest of the suite uses.

def test_a_model_that_cannot_load_is_reported_and_stops_the_assistant(tmp_path):
    """Reviewer's repro: a broken models/clinic.tar.gz left `python -m bot run` up, answering []."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "clinic.tar.gz").write_text("x\n")
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    assistant = RunningAssistant(var_dir, port=18410, actions_port=18411, env={"MODEL_DIR": str(models)})
    with open(assistant.stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=REPO_ROOT, env=assistant.env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        assistant.proc = proc
        try:
            code = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            assistant.stop()
    stderr = assistant.stderr_path.read_text()
    assert code is not None, "the assistant kept running with a model it could not load"
    assert code != 0
    assert "could not be loaded" in stderr and "make train" in stderr
    assert "Rasa server stopped" in stderr


def test_an_unreachable_redis_stops_start_up_with_instructions(tmp_path):
    """A wrong REDIS_URL port used to start "fine", then every message got []."""
    assistant = RunningAssistant(tmp_path, port=18412, actions_port=18413,
                                 env={"REDIS_URL": "redis://127.0.0.1:18419/0"})
    with open(assistant.stderr_path, "wb") as err:
        assistant.proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=REPO_ROOT,
                                          env=assistant.env, stdout=subprocess.DEVNULL, stderr=err,
                                          start_new_session=True)
        try:
            code = assistant.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            assistant.stop()  # the whole process group, should it have started anything
    assert code is not None, "the assistant started with a Redis it could not reach"
    assert code != 0
    stderr = assistant.stderr_path.read_text()
    assert "Redis at redis://127.0.0.1:18419/0 (REDIS_URL) did not answer" in stderr
    assert "unset REDIS_URL" in stderr


@pytest.mark.parametrize("proxy_var", ["http_proxy", "HTTP_PROXY"])
def test_the_start_up_health_check_does_not_go_through_an_http_proxy(monkeypatch, proxy_var):
    """Behind a corporate proxy without no_proxy, the loopback check went to the proxy, waited
    its whole timeout and then said the action server had not started."""
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from bot.__main__ import _wait_for_http

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 18414), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(proxy_var, "http://127.0.0.1:18415")  # nothing listens there
    monkeypatch.setattr(urllib.request, "_opener", None)  # urlopen's opener reads proxies once
    try:
        assert _wait_for_http("http://127.0.0.1:18414/health", [], timeout=5)
    finally:
        server.shutdown()
        server.server_close()
