"""The website widget: its session tokens and limits (fast), the channel in this process with
stand-in sockets (fast), the channel over a real WebSocket, and patients' journeys in headless Chromium (tests/browser/widget.test.mjs, playwright-core
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
from connectors.sms import PracticeContact
from connectors.widget import WidgetHub, WidgetInput
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
    # Garbled in ways ours never are: still just "no".
    for junk in ("\u00e9.x", "abc.\u00e9", f"{body}.{mac[:-1]}\u00e9", ["a.b"], b"a.b", "a.", ".b"):
        assert signer.verify(junk, now=1030) is None


def test_the_idle_limit_is_rasas_session_expiry_unless_set():
    assert WidgetSettings.from_env({"WIDGET_SECRET": "s"}).idle_minutes == 30  # domain.yml
    assert WidgetSettings.from_env({"WIDGET_SECRET": "s", "WIDGET_IDLE_MINUTES": "10"}).idle_minutes == 10


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


# --- the channel in this process, with stand-in sockets ---------------------------------

SYNTHETIC_PHI_REPLY = "Thanks Testy, you're verified. Your demo-pril 10 mg refill is approved."
ORIGIN_HEADERS = {"origin": "http://localhost:5005"}


class FakeSocket:
    """Frames the 'browser' sends, in order; what the server sent, decoded. `delay_s` makes
    every send slow, like a phone on a poor connection."""

    def __init__(self, *frames, delay_s: float = 0.0):
        self.incoming = [f if isinstance(f, str) else json.dumps(f) for f in frames]
        self.sent, self.closed_with, self.delay_s = [], None, delay_s

    async def recv(self):
        return self.incoming.pop(0) if self.incoming else None

    async def send(self, data):
        await asyncio.sleep(self.delay_s)
        self.sent.append(json.loads(data))

    async def close(self, code=1000, reason=""):
        self.closed_with = code

    def transcript(self):
        return [f["text"] for f in self.sent if f["type"] == "msg"]


class FakeRequest:
    scheme, host, headers = "http", "localhost:5005", ORIGIN_HEADERS

    def __init__(self, body: bytes = b"{}"):
        self.body = body


def _widget(**settings) -> WidgetInput:
    return WidgetInput(WidgetSettings(secret=b"test-secret", allowed_origins=frozenset(), **settings),
                       PracticeContact("Testville Demo Clinic", "(555) 010-0100"))


def _post_session(widget: WidgetInput, body) -> tuple:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = widget.session(FakeRequest(raw))
    return answer.status, json.loads(answer.body)


async def _verified_reply(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, SYNTHETIC_PHI_REPLY)


@pytest.fixture
def clock(monkeypatch):
    """Wall-clock time that the test moves forward (tokens and the hub both read time.time)."""
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_the_next_person_at_the_browser_after_the_session_expiry_sees_and_continues_nothing(clock):
    widget = _widget(idle_minutes=30)
    _, first = _post_session(widget, {"token": None})
    asyncio.run(widget.socket(FakeRequest(), FakeSocket(
        {"type": "hello", "token": first["token"]},
        {"type": "message", "id": "1", "text": "my date of birth is 03/04/1980"}), _verified_reply))

    # 20 minutes on the same patient reloads: same conversation, transcript replayed.
    clock[0] += 20 * 60
    _, renewed = _post_session(widget, {"token": first["token"]})
    assert renewed["renewed"] and renewed["conversation_id"] == first["conversation_id"]
    tab = FakeSocket({"type": "hello", "token": renewed["token"], "after": 0})
    asyncio.run(widget.socket(FakeRequest(), tab, _verified_reply))
    assert SYNTHETIC_PHI_REPLY in tab.transcript()

    # 35 minutes after the last message (the reload did not count): someone else opens the chat.
    clock[0] += 15 * 60
    _, later = _post_session(widget, {"token": renewed["token"]})
    assert later["conversation_id"] != first["conversation_id"]
    assert later["expired"] and not later["renewed"]
    tab = FakeSocket({"type": "hello", "token": later["token"], "after": 0})
    asyncio.run(widget.socket(FakeRequest(), tab, _verified_reply))
    assert tab.sent[0] == {"type": "ready", "last_seq": 0} and tab.transcript() == []

    # The old token (still within its 4 h) cannot reopen the old conversation over the socket
    # either, nor after a restart that forgot it.
    for server in (widget, _widget(idle_minutes=30)):
        tab = FakeSocket({"type": "hello", "token": renewed["token"], "after": 0})
        asyncio.run(server.socket(FakeRequest(), tab, _verified_reply))
        assert [f["code"] for f in tab.sent] == ["session_expired"] and tab.closed_with == 4401
        assert "a new chat has started" in tab.sent[0]["text"]


def test_ended_conversations_drop_their_transcript_and_only_so_many_are_kept(clock):
    hub = WidgetHub(idle_s=30 * 60, max_conversations=3)
    open_tab = FakeSocket()
    hub.get("web_open").sockets.add(open_tab)
    for name in ("web_a", "web_b", "web_c", "web_d"):
        asyncio.run(hub.publish(name, {"from": "bot", "text": f"hello {name}"}))
    # The least recently active went; the one with an open tab did not.
    assert set(hub._conversations) == {"web_open", "web_c", "web_d"}

    clock[0] += 31 * 60
    asyncio.run(hub.publish("web_open", {"from": "bot", "text": "old news"}))
    clock[0] += 31 * 60
    hub.get("web_new")  # any use sweeps, at most once a minute
    assert set(hub._conversations) == {"web_open", "web_new"}
    assert hub.replay("web_open", 0) == []  # its tab still shows it; nobody new will


def test_garbled_requests_get_a_sentence_saying_what_to_do_not_a_server_error():
    widget = _widget()
    too_deep = b"[" * 200_000
    for body in (too_deep, b"not json", b"[1]", json.dumps({"token": "a"}).encode()[:-1]):
        status, answer = _post_session(widget, body)
        assert status == 400 and "reload the page" in answer["message"]
    # A token that cannot be ours is treated like an expired one: a new chat, not a dead widget.
    for token in ("\u00e9.x", "abc.\u00e9", ["x"], 7):
        status, answer = _post_session(widget, {"token": token})
        assert status == 200 and answer["expired"] and answer["conversation_id"].startswith("web_")

    tab = FakeSocket({"type": "hello", "token": "\u00e9.x"})
    asyncio.run(widget.socket(FakeRequest(), tab, _verified_reply))
    assert tab.sent[0]["code"] == "session_expired" and tab.closed_with == 4401

    tab = FakeSocket(too_deep.decode())
    asyncio.run(widget.socket(FakeRequest(), tab, _verified_reply))
    assert tab.closed_with == 4400

    token = widget.signer.issue()["token"]
    tab = FakeSocket({"type": "hello", "token": token}, too_deep.decode(), {"type": "ping"})
    asyncio.run(widget.socket(FakeRequest(), tab, _verified_reply))
    assert [f["type"] for f in tab.sent] == ["ready", "error", "pong"]  # the socket carried on
    assert "reload the page" in tab.sent[1]["text"]


def test_a_tab_reconnecting_on_a_slow_link_gets_messages_in_order():
    widget = _widget()
    conversation_id = widget.signer.issue()["conversation_id"]
    token = widget.signer.issue(conversation_id)["token"]

    async def reconnect_while_the_other_tab_gets_a_reply():
        await widget.hub.publish(conversation_id, {"from": "bot", "text": "first"})
        tab = FakeSocket({"type": "hello", "token": token, "after": 0}, delay_s=0.05)
        reconnecting = asyncio.create_task(widget.socket(FakeRequest(), tab, _verified_reply))
        await asyncio.sleep(0.01)  # the hello is read; "ready" is on its way
        await widget.hub.publish(conversation_id, {"from": "bot", "text": "second"})
        await reconnecting
        return tab.sent

    sent = asyncio.run(reconnect_while_the_other_tab_gets_a_reply())
    assert sent[0] == {"type": "ready", "last_seq": 1}
    assert [(f["seq"], f["text"]) for f in sent[1:]] == [(1, "first"), (2, "second")]


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


@pytest.mark.e2e
def test_garbled_session_requests_get_a_400_with_a_sentence_not_a_500(assistant):
    for body in (b"[" * 200_000, b"not json"):
        request = urllib.request.Request(
            assistant.base + "/webhooks/widget/session", data=body, method="POST",
            headers={"Content-Type": "text/plain", "Origin": _origin()})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
        assert "reload the page" in json.loads(refused.value.read())["message"]
    status, fresh = _session(assistant, _origin(), "abc.\u00e9")
    assert status == 200 and fresh["expired"]


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
    "axe": ["axe"], "small_screens": ["360px", "zoom200"], "idle_clears": ["idle-cleared"],
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
