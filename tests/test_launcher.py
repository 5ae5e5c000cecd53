"""`python -m bot run` as a practice runs it: a crash of either server is reported and
stops the other, so a half-running assistant never looks healthy."""

import signal
import time

import psutil
import pytest

from tests.harness import RunningAssistant

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
