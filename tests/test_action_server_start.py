"""`python -m actions.server` start-up: what it does to the practice database, and settings
it checks before taking requests. Ports 184xx, kept clear of the rest of the suite's."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.harness import REPO_ROOT

pytestmark = pytest.mark.e2e


def _start(var_dir, port, **env):
    full_env = {key: value for key, value in os.environ.items()
                if key not in ("DATABASE_URL", "PRACTICE_DEMO_SEED", "VERIFICATION_IDLE_MINUTES")}
    full_env.update({"VAR_DIR": str(var_dir), "ACTIONS_PORT": str(port), "PYTHONPATH": str(REPO_ROOT),
                     "HANDBOOK_SEMANTIC": "off", **env})
    # Output to a file: an unread pipe fills up and stalls the server.
    with open(var_dir / "actions.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "actions.server"], cwd=REPO_ROOT, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(proc, port, log_path, timeout=180):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            with opener.open(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the action server did not answer /health in {timeout} s")


def test_practice_demo_seed_0_keeps_the_demo_clinic_out_of_a_fresh_database(tmp_path):
    """A real practice's empty database must not be filled with the demo clinic and its demo
    patient identity (which the README tells everyone to try)."""
    proc = _start(tmp_path, 18440, PRACTICE_DEMO_SEED="0")
    try:
        _wait_healthy(proc, 18440, tmp_path / "actions.log")
    finally:
        _stop(proc)
    with sqlite3.connect(tmp_path / "practice.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"patients", "providers"} <= tables  # migrated
        assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM providers").fetchone()[0] == 0


def test_a_verification_idle_limit_that_is_not_a_number_stops_start_up(tmp_path):
    """'15m' used to be read only when the first patient verified, failing that patient's turn."""
    proc = _start(tmp_path, 18442, VERIFICATION_IDLE_MINUTES="15m")
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        _stop(proc)
        pytest.fail("the action server started with VERIFICATION_IDLE_MINUTES=15m")
    assert proc.returncode != 0
    text = (tmp_path / "actions.log").read_text(errors="replace")
    assert "VERIFICATION_IDLE_MINUTES" in text and "'15m'" in text and "number of minutes" in text
