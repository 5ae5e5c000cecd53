"""The website widget: its session tokens and limits (fast), the channel over a real WebSocket,
and patients' journeys in headless Chromium (tests/browser/widget.test.mjs, playwright-core
driving Debian's /usr/bin/chromium, axe-core for accessibility).

The browser tests skip with a message when chromium, node or tests/browser/node_modules is
missing, and fail when CI is set (.ci/run installs them). Screenshots go to results/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from actions.practice.seed import DEMO_PATIENT
from connectors.widget_session import OriginPolicy, RateLimiter, TokenSigner, WidgetSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
BROWSER_DIR = REPO_ROOT / "tests" / "browser"
SCREENSHOTS = REPO_ROOT / "results" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PORT, ACTIONS_PORT = 5905, 5955
# Never said by the bot and nothing a PHI recognizer looks for: if it shows up in the server
# log, the widget's known-values binding did not happen.
UNREMARKABLE_SECRET_TEXT = "my blue teapot whistles loudly on tuesdays"


# --- tokens, origins, limits (no processes) ----------------------------------------------


def test_a_token_names_its_conversation_and_cannot_be_forged_or_reused_after_expiry():
    signer = TokenSigner(b"test-secret", ttl_s=60)
    issued = signer.issue(now=1000)
    assert issued["conversation_id"].startswith("web_")
    assert signer.verify(issued["token"], now=1030) == issued["conversation_id"]
    assert signer.verify(issued["token"], now=1061) is None  # expired
    body, mac = issued["token"].split(".")
    other = TokenSigner(b"test-secret", 60).issue("web_someone_else", now=1000)["token"].split(".")[0]
    assert signer.verify(f"{other}.{mac}", now=1030) is None  # another conversation, old signature
    assert TokenSigner(b"another-secret", 60).verify(issued["token"], now=1030) is None
    for junk in (None, "", "abc", "a.b.c", 42, "x" * 600):
        assert signer.verify(junk, now=1030) is None
    # Renewal keeps the conversation.
    assert signer.issue(issued["conversation_id"], now=1050)["conversation_id"] == issued["conversation_id"]


def test_origins_default_to_this_server_and_localhost_and_can_be_configured():
    default = OriginPolicy(WidgetSettings(secret=b"s", allowed_origins=frozenset(), port="5005"))
    assert default.allows("https://chat.example.test", own_origin="https://chat.example.test")
    assert default.allows("http://localhost:5005", own_origin="https://chat.example.test")
    assert not default.allows("http://localhost:5006", own_origin="https://chat.example.test")
    assert not default.allows("https://evil.example.test", own_origin="https://chat.example.test")
    assert not default.allows(None, own_origin="https://chat.example.test")
    configured = OriginPolicy(WidgetSettings.from_env({
        "WIDGET_SECRET": "s", "WIDGET_ALLOWED_ORIGINS": "https://maple.example.test/, https://www.maple.example.test"}))
    assert configured.allows("https://www.maple.example.test", own_origin="https://chat.example.test")
    assert configured.allows("https://maple.example.test", own_origin="https://chat.example.test")
    assert not configured.allows("https://chat.example.test", own_origin="https://chat.example.test")


def test_rate_limit_is_per_conversation_and_says_how_long_to_wait():
    limiter = RateLimiter(per_minute=3)
    assert [limiter.retry_after("a", now=t) for t in (0, 1, 2)] == [0, 0, 0]
    assert limiter.retry_after("a", now=3) == 57
    assert limiter.retry_after("b", now=3) == 0
    assert limiter.retry_after("a", now=60.5) == 0  # the first one has left the window


def test_widget_is_within_its_size_budget():
    result = subprocess.run([sys.executable, "-m", "connectors.widget_size"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "within the 50 kB budget" in result.stdout


# --- the running assistant ---------------------------------------------------------------


def _require_browser() -> None:
    missing = [what for what, ok in (
        (f"Chromium ({CHROMIUM}; apt-get install chromium)", Path(CHROMIUM).exists()),
        ("node (apt-get install nodejs npm)", shutil.which("node") is not None),
        ("tests/browser/node_modules (cd tests/browser && npm ci)", (BROWSER_DIR / "node_modules").is_dir()),
    ) if not ok]
    if not missing:
        return
    message = "browser tests need " + ", ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must run them (.ci/run installs them).")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser_ready() -> None:
    """Checked before the assistant starts, so a laptop without Chromium skips at once."""
    _require_browser()


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    from tests.harness import RunningAssistant

    # DEBUG: Rasa then logs every user message, which is what the redaction check needs.
    running = RunningAssistant(tmp_path_factory.mktemp("widget-var"), port=PORT,
                               actions_port=ACTIONS_PORT, log_level="DEBUG").start()
    yield running
    assert running.stop() == 0, "the assistant did not stop cleanly on Ctrl-C"


def _origin() -> str:
    return f"http://127.0.0.1:{PORT}"


def _session(assistant, origin, token=None):
    request = urllib.request.Request(
        assistant.base + "/webhooks/widget/session", data=json.dumps({"token": token}).encode(),
        method="POST", headers={"Content-Type": "text/plain", **({"Origin": origin} if origin else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.e2e
def test_session_is_refused_to_other_origins_with_a_sentence_not_a_trace(assistant):
    for origin in ("http://127.0.0.1:5999", "https://evil.example.test", None):
        status, body = _session(assistant, origin)
        assert status == 403 and "Traceback" not in json.dumps(body)
        assert "call (555) 010-0100" in body["message"]
    status, body = _session(assistant, _origin())
    assert status == 200 and body["conversation_id"].startswith("web_")
    status, renewed = _session(assistant, _origin(), body["token"])
    assert renewed["conversation_id"] == body["conversation_id"] and renewed["renewed"]
    status, fresh = _session(assistant, _origin(), body["token"][:-2] + "xx")
    assert fresh["conversation_id"] != body["conversation_id"] and fresh["expired"]


async def _socket_turns(assistant, token, frames, wait_for):
    import websockets

    url = assistant.base.replace("http", "ws") + "/webhooks/widget/ws"
    received = []
    async with websockets.connect(url, origin=_origin()) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "after": 0}))
        for frame in frames:
            await ws.send(json.dumps(frame))
        while not wait_for(received):
            received.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
    return received


@pytest.mark.e2e
def test_socket_replies_once_per_message_id_and_binds_the_text_for_log_redaction(assistant):
    _, session = _session(assistant, _origin())
    message = {"type": "message", "id": "m-1", "text": UNREMARKABLE_SECRET_TEXT}
    # The same id twice (a resend after a reconnect) is acknowledged twice, handled once.
    frames = asyncio.run(_socket_turns(
        assistant, session["token"], [message, message],
        lambda got: sum(f.get("type") == "ack" for f in got) == 2
        and any(f.get("type") == "typing" and not f["on"] for f in got)))
    users = [f for f in frames if f.get("type") == "msg" and f["from"] == "user"]
    assert [u["text"] for u in users] == [UNREMARKABLE_SECRET_TEXT]
    seqs = [f["seq"] for f in frames if f.get("type") == "msg"]
    assert seqs == sorted(set(seqs))
    # A forged token gets a sentence and a close, not a conversation.
    refused = asyncio.run(_socket_turns(assistant, session["token"] + "x", [], lambda got: bool(got)))
    assert refused[0]["code"] == "session_expired"
    logs = (assistant.stdout_path.read_text(errors="replace") + assistant.stderr_path.read_text(errors="replace"))
    assert "<MESSAGE>" in logs  # Rasa's DEBUG lines quoted the message, and it was replaced
    assert UNREMARKABLE_SECRET_TEXT not in logs


SCREENSHOT_NAMES = {
    "book": ["booked"], "reload_and_second_tab": ["after-reload"], "keyboard_only": ["keyboard"],
    "reconnect": ["reconnect"], "end_chat": ["end-chat"], "xss_is_text": ["xss"], "origin_refused": ["origin-refused"], "rate_limited": ["rate-limited"],
    "axe": ["axe"], "small_screens": ["360px", "zoom200"],
}


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", list(SCREENSHOT_NAMES))
def test_widget_in_chromium(browser_ready, assistant, scenario):
    dob = DEMO_PATIENT[1]
    env = dict(os.environ, BASE_URL=assistant.base, SCREENSHOT_DIR=str(SCREENSHOTS), CHROMIUM=CHROMIUM,
               DEMO_NAME=DEMO_PATIENT[0], DEMO_DOB=f"{dob.month:02d}/{dob.day:02d}/{dob.year}")
    started = time.time() - 1
    result = subprocess.run(["node", "widget.test.mjs", scenario], cwd=BROWSER_DIR, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{scenario} failed:\n{result.stderr[-3000:]}\n{result.stdout[-1000:]}"
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["ok"]
    for name in SCREENSHOT_NAMES[scenario]:
        assert (SCREENSHOTS / f"widget-{name}.png").stat().st_mtime >= started, f"no screenshot {name}"
    if scenario == "book":  # the booking made in the browser is in the practice database
        with sqlite3.connect(assistant.var_dir / "practice.db") as db:
            rows = db.execute("SELECT status FROM appointments WHERE reference = ?",
                              (outcome["reference"],)).fetchall()
        assert rows == [("booked",)]
