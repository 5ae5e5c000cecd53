"""Staff notifications carry a reference number and no PHI, even when handed some."""

import asyncio
import json

from actions.notifications import notify_staff
from privacy.references import new_reference


def test_notification_goes_to_the_outbox_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    reference = new_reference("HO")
    text = asyncio.run(notify_staff(
        "Patient asked for a person", reference,
        "patient Quenby Faketon dob 03/14/1961 phone 312-555-0188",
        known_values=[("patient_name", "Quenby Faketon")],
    ))
    record = json.loads((tmp_path / "outbox" / "slack.jsonl").read_text())
    assert record["text"] == text and reference in text
    for value in ("Quenby", "Faketon", "03/14/1961", "555-0188"):
        assert value not in text


def test_references_are_unambiguous():
    refs = {new_reference("EM") for _ in range(200)}
    assert len(refs) == 200 and all(r.startswith("EM-") and not set(r[3:]) & set("OI01") for r in refs)


def test_a_summary_cannot_ping_the_staff_channel_or_smuggle_a_link(tmp_path, monkeypatch):
    # Found in review: the REST channel's name comes from the request body, and reached Slack raw.
    from actions.handoff import handoff_summary
    from tests.action_helpers import tracker

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    t = tracker({}, None, text="talk to a person", intent="human_handoff", form=None)
    t.events.append({"event": "user", "text": "x",
                     "input_channel": "<!channel> URGENT <https://phish.example|log in>"})
    assert handoff_summary(t, "asked") == "channel web; not verified; reason: asked"
    t.events.append({"event": "user", "text": "x", "input_channel": "sms"})
    assert handoff_summary(t, "asked").startswith("channel sms;")
    text = asyncio.run(notify_staff("Callback requested", new_reference("HO"), "note <!here> <@U1>"))
    assert "<" not in text and ">" not in text and "&lt;!here&gt;" in text


def test_a_broken_slack_answer_does_not_break_the_patients_reply(tmp_path, monkeypatch, caplog):
    """A proxy's error page (not JSON) or an odd body used to raise out of the action."""
    from aiohttp import web

    import actions.notifications as notifications

    async def go():
        answers = [web.Response(status=502, text="<html>bad gateway</html>"), web.json_response([])]

        async def handle(_request):
            return answers.pop(0)

        app = web.Application()
        app.router.add_post("/api/chat.postMessage", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        monkeypatch.setattr(notifications, "SLACK_POST_URL", f"http://127.0.0.1:{port}/api/chat.postMessage")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_STAFF_CHANNEL", "C0STAFF")
        try:
            return [await notify_staff("Callback requested", new_reference("HO")) for _ in range(2)]
        finally:
            await runner.cleanup()

    sent = asyncio.run(go())
    assert all("Callback requested" in text for text in sent)
    assert "Slack notification" in caplog.text


def _fake_slack(answers, received):
    from aiohttp import web

    async def handle(request):
        received.append(await request.json())
        return answers.pop(0) if answers else web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/api/chat.postMessage", handle)
    return app


async def _serve(app, monkeypatch):
    from aiohttp import web

    import actions.notifications as notifications

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    monkeypatch.setattr(notifications, "SLACK_POST_URL", f"http://127.0.0.1:{port}/api/chat.postMessage")
    monkeypatch.setattr(notifications, "RETRY_DELAYS_S", (0.05, 0.05, 0.05))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_STAFF_CHANNEL", "C0STAFF")
    return runner


def test_a_notice_slack_did_not_take_is_retried_until_it_is_posted(tmp_path, monkeypatch):
    # A patient told "our team will call you" must not depend on one HTTP call going through.
    from aiohttp import web

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    received = []
    reference = new_reference("HO")

    async def go():
        answers = [web.Response(status=503, text="busy"), web.json_response({"ok": False, "error": "ratelimited"})]
        runner = await _serve(_fake_slack(answers, received), monkeypatch)
        try:
            await notify_staff("Patient waiting for a person", reference)
            await asyncio.sleep(0.5)
        finally:
            await runner.cleanup()

    asyncio.run(go())
    assert len(received) == 3 and all(reference in r["text"] for r in received)
    assert not (tmp_path / "outbox" / "slack_undelivered.jsonl").exists()


def test_a_notice_that_cannot_be_posted_is_kept_and_reported(tmp_path, monkeypatch, caplog):
    from aiohttp import web

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    received = []
    refused, broken = new_reference("HO"), new_reference("HO")

    async def go():
        answers = [web.json_response({"ok": False, "error": "channel_not_found"})] + [
            web.Response(status=502, text="<html>bad gateway</html>") for _ in range(4)]
        runner = await _serve(_fake_slack(answers, received), monkeypatch)
        try:
            await notify_staff("Callback requested", refused)  # settings are wrong: no retry
            await notify_staff("Callback requested", broken)  # Slack down throughout
            await asyncio.sleep(0.5)
        finally:
            await runner.cleanup()

    asyncio.run(go())
    assert len(received) == 1 + 4
    kept = [json.loads(line) for line in (tmp_path / "outbox" / "slack_undelivered.jsonl").read_text().splitlines()]
    assert [refused in k["text"] for k in kept] == [True, False] and broken in kept[1]["text"]
    assert "slack_undelivered.jsonl" in caplog.text and "SLACK_STAFF_CHANNEL" in caplog.text
    assert "Staff notified" not in caplog.text
