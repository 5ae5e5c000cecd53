"""Handoff to a person: office hours, the pause until staff close it, callbacks outside hours,
and the staff commands, against a real seeded SQLite practice database."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher

import actions.handoff as handoff
import actions.practice as practice_module
from actions.common import when_text
from actions.practice.clinic import practice_timezone
from tests.action_helpers import slot_events, tracker, validate

TZ = practice_timezone()
# The demo clinic (bot/content/clinic.yml): lunch 12:00-13:00 on open days, Wed and Sun closed.
MONDAY_10AM = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
MONDAY_LUNCH = datetime(2026, 11, 30, 12, 45, tzinfo=TZ)
TUESDAY_9PM = datetime(2026, 12, 1, 21, 0, tzinfo=TZ)
WEDNESDAY_NOON = datetime(2026, 12, 2, 12, 0, tzinfo=TZ)


def test_office_hours_follow_the_clinic_file(run):
    async def scenario():
        open_at = [await handoff.in_office_hours(moment)
                   for moment in (MONDAY_10AM, MONDAY_LUNCH, TUESDAY_9PM, WEDNESDAY_NOON)]
        openings = [await handoff.next_opening(moment)
                    for moment in (MONDAY_10AM, MONDAY_LUNCH, TUESDAY_9PM)]
        return open_at, openings, await handoff.in_office_hours(openings[2])

    open_at, (after_monday, after_lunch, after_tuesday), open_after_tuesday = run(scenario)
    assert open_at == [True, False, False, False]  # Wednesday is closed all day
    assert after_monday == MONDAY_10AM
    assert after_lunch.time().strftime("%H:%M") == "13:00"
    assert after_tuesday.weekday() == 3 and open_after_tuesday  # Thursday


def seeded_closures():
    """The demo seed's closures, which move with the date the tests run (seed.py)."""
    from actions.practice.seed import demo_calendar, week_start_for

    return demo_calendar(week_start_for(datetime.now(TZ).date()), TZ)


async def run_action(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return events, dispatcher.messages


@pytest.fixture
def at(monkeypatch, tmp_path):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))

    def set_time(moment):
        monkeypatch.setattr(handoff, "now_local", lambda: moment)

    return set_time


def test_in_office_hours_staff_are_told_without_phi_and_the_conversation_pauses(run, at, tmp_path):
    at(MONDAY_10AM)

    async def scenario():
        ask = tracker({}, None, text="can I talk to a real person", intent="human_handoff", form=None)
        started, started_messages = await run_action(handoff.ActionHumanHandoff(), ask)
        form = tracker({"handoff_reason": "asked"}, None, form="handoff_form")
        required = await handoff.ValidateHandoffForm().required_slots([], CollectingDispatcher(), form, {})
        phone, _ = await validate(handoff.ValidateHandoffForm(), tracker(
            {"callback_phone": "312.555.0188"}, "callback_phone", form="handoff_form"))
        done = tracker({"handoff_reason": "asked", "callback_phone": "+13125550188",
                        "verified_patient_id": None}, None, form=None)
        done.events.insert(0, {"event": "active_loop", "name": "refill_form"})
        finished, finished_messages = await run_action(handoff.ActionFinishHandoff(), done)
        reference = slot_events(finished)["handoff_reference"]
        # While waiting, any message gets a holding reply.
        waiting, waiting_messages = await validate(handoff.ValidateHandoffWaitForm(), tracker(
            {"handoff_resumed": "hello?", "handoff_reference": reference}, "handoff_resumed",
            form="handoff_wait_form"))
        queue = await handoff.handoff_queue_text()
        closed = await handoff.resume_conversation(reference)
        resumed, _ = await validate(handoff.ValidateHandoffWaitForm(), tracker(
            {"handoff_resumed": "hello?", "handoff_reference": reference}, "handoff_resumed",
            form="handoff_wait_form"))
        stored = await practice_module.get_practice_system().handoff_queue()
        return (started, started_messages, required, slot_events(phone), finished,
                finished_messages, reference, slot_events(waiting), waiting_messages, queue,
                closed, slot_events(resumed), stored)

    (started, started_messages, required, phone, finished, finished_messages, reference,
     waiting, waiting_messages, queue, closed, resumed, stored) = run(scenario)
    assert started_messages[0]["text"].startswith("Of course, I'll get a member of our team")
    assert any(e["event"] == "followup" and e["name"] == "handoff_form" for e in started)
    assert required == ["callback_phone"]  # no "when" question during office hours
    assert phone["callback_phone"] == "+13125550188"
    assert f"reference {reference}" in finished_messages[0]["text"]
    assert any(e["event"] == "followup" and e["name"] == "handoff_wait_form" for e in finished)
    assert waiting["handoff_resumed"] is None
    assert "will be with you shortly" in waiting_messages[0]
    assert reference in queue and "waiting now" in queue and "0188" not in queue
    assert "is closed" in closed
    assert resumed["handoff_resumed"] is True
    assert stored == []
    notices = [json.loads(line)["text"] for line in (tmp_path / "outbox" / "slack.jsonl").read_text().splitlines()]
    assert notices == [f"Patient waiting for a person · ref {reference} · channel rest; not verified; "
                       "reason: asked; was a prescription refill"]


def test_staff_never_see_a_channel_name_the_patient_made_up(run, at):
    # The REST channel takes its name from the request body; the handoff queue showed it.
    at(MONDAY_10AM)

    async def scenario():
        done = tracker({"handoff_reason": "asked", "callback_phone": "+13125550188"}, None, form=None,
                       channel="CALL 555-0199 NOW")
        await run_action(handoff.ActionFinishHandoff(), done)
        return await handoff.handoff_queue_text()

    queue = run(scenario)
    assert "555-0199" not in queue and "web" in queue


def test_outside_hours_a_callback_is_requested_with_the_preferred_time(run, at, tmp_path):
    at(TUESDAY_9PM)

    async def scenario():
        ask = tracker({}, None, text="this is useless", intent="human_handoff", form=None)
        _, started_messages = await run_action(handoff.ActionHumanHandoff(), ask)
        reason = handoff.handoff_reason(ask)
        form = tracker({}, None, form="handoff_form")
        required = await handoff.ValidateHandoffForm().required_slots([], CollectingDispatcher(), form, {})
        done = tracker({"handoff_reason": reason, "callback_phone": "+13125550188",
                        "callback_time": "after 3"}, None, form=None)
        finished, finished_messages = await run_action(handoff.ActionFinishHandoff(), done)
        stored = await practice_module.get_practice_system().handoff_queue()
        return started_messages, reason, required, finished, finished_messages, stored

    started_messages, reason, required, finished, finished_messages, stored = run(scenario)
    assert "closed right now" in started_messages[0]["text"] and "Thursday" in started_messages[0]["text"]
    assert reason == "frustrated"
    assert required == ["callback_phone", "callback_time"]
    text = finished_messages[0]["text"]
    assert "callback request is in" in text and "Thursday" in text and '"after 3"' in text
    assert not any(e.get("name") == "handoff_wait_form" for e in finished)  # no pause
    (callback,) = stored
    assert (callback.kind, callback.callback_phone, callback.callback_time) == (
        "callback", "+13125550188", "after 3")


def test_by_sms_the_number_texted_from_is_used(run, at, tmp_path, monkeypatch):
    from actions import verification
    from connectors.sms_state import sender_token

    at(TUESDAY_9PM)
    monkeypatch.setenv("SENDER_ID_SECRET", "handoff-test-secret")
    verification._sms_secret.cache_clear()
    metadata = {"sms_sender_token": sender_token(b"handoff-test-secret", "+13125550199")}

    async def scenario():
        form = tracker({}, None, form="handoff_form", channel="sms", metadata=metadata)
        required = await handoff.ValidateHandoffForm().required_slots([], CollectingDispatcher(), form, {})
        done = tracker({"handoff_reason": "asked", "callback_time": "any time"}, None, form=None,
                       channel="sms", metadata=metadata)
        await run_action(handoff.ActionFinishHandoff(), done)
        return required, await practice_module.get_practice_system().handoff_queue()

    required, (callback,) = run(scenario)
    assert required == ["callback_time"]
    assert callback.callback_phone == "+13125550199" and callback.channel == "sms"


def test_a_bad_phone_number_is_asked_again(run):
    async def scenario():
        return await validate(handoff.ValidateHandoffForm(), tracker(
            {"callback_phone": "call me maybe"}, "callback_phone", form="handoff_form"))

    events, messages = run(scenario)
    assert slot_events(events)["callback_phone"] is None and "area code" in messages[0]


@pytest.mark.parametrize("text,number", [
    ("please call me back at 312-555-0188", "+13125550188"),
    ("call me back on 3125550188", "+13125550188"),
    ("call me back", None),
])
def test_a_number_given_with_the_request_is_not_asked_for_again(run, at, text, number):
    at(MONDAY_10AM)

    async def scenario():
        ask = tracker({}, None, text=text, intent="human_handoff", form=None)
        return await run_action(handoff.ActionHumanHandoff(), ask)

    started, _ = run(scenario)
    assert slot_events(started)["callback_phone"] == number
    assert any(e["event"] == "followup" and e["name"] == "handoff_form" for e in started)


def test_staff_commands_are_for_slack_only(run):
    from actions.staff import ActionStaffCommand

    async def scenario():
        web = tracker({}, None, text="handoffs", intent="staff_command", form=None)
        slack = tracker({}, None, text="handoffs", intent="staff_command", form=None,
                        channel="slack", metadata={"channel_role": "staff"})
        spoofed = tracker({}, None, text="handoffs", intent="staff_command", form=None,
                          metadata={"channel_role": "staff"})
        return [await run_action(ActionStaffCommand(), t) for t in (web, slack, spoofed)]

    (_, web), (_, slack), (_, spoofed) = run(scenario)
    assert "can't help with that here" in web[0]["text"]
    assert slack[0]["text"] == "No patients are waiting for a person."
    assert "can't help with that here" in spoofed[0]["text"]


def test_an_ai_opt_out_is_recorded_for_the_verified_patient_then_handed_over(run, at, tmp_path):
    at(MONDAY_10AM)
    from actions.practice.seed import DEMO_PATIENT
    from tests.action_helpers import dob_text

    async def scenario():
        verified, _ = await validate(handoff.ValidateAiOptOutForm(), tracker(
            {"patient_name": DEMO_PATIENT[0], "patient_dob": dob_text(DEMO_PATIENT[1])},
            "patient_dob", form="ai_opt_out_form"))
        who = slot_events(verified)
        recorded, messages = await run_action(handoff.ActionRecordAiOptOut(), tracker(
            {**who, "disclosure_version": "2"}, None, form=None))
        stored = await practice_module.get_practice_system().ai_opt_out(who["verified_patient_id"])
        unverified, unverified_messages = await run_action(handoff.ActionRecordAiOptOut(), tracker(
            {}, None, form=None))
        from actions.staff_refills import list_ai_opt_outs

        return recorded, messages, stored, unverified, unverified_messages, await list_ai_opt_outs()

    recorded, messages, stored, unverified, unverified_messages, staff_list = run(scenario)
    assert "recorded that you don't want AI involved" in messages[0]["text"]
    assert stored[0] == "2"
    for events in (recorded, unverified):
        assert any(e["event"] == "followup" and e["name"] == "action_human_handoff" for e in events)
    assert "haven't recorded it" in unverified_messages[0]["text"]
    notices = (tmp_path / "outbox" / "slack.jsonl").read_text()
    assert "AI opt-out recorded" in notices and "Testy" not in notices and "1985" not in notices
    # The reference staff were sent resolves to the patient on a staff workstation.
    import re

    reference = re.search(r"AO-[A-Z0-9]+", notices).group(0)
    (line,) = staff_list
    assert line.startswith(reference) and "Testy McFakeface" in line


def test_asking_the_hours_names_the_coming_closures(run):
    # "are you open on monday dec 14" got the usual hours on the clinic's holiday.
    from actions.conversation import ActionClinicInfo
    from actions.practice.seed import demo_calendar, week_start_for
    from actions.common import now_local, practice_tz

    calendar = demo_calendar(week_start_for(now_local().date()), practice_tz())

    async def scenario():
        dispatcher = CollectingDispatcher()
        t = tracker({}, None, text="are you open on the 14th", intent="ask_hours", form=None)
        await ActionClinicInfo().run(dispatcher, t, {})
        return dispatcher.messages[0]["text"]

    text = run(scenario)
    holiday = calendar.holiday
    assert text.startswith("Our hours:")
    assert f"{holiday:%a} {holiday.day} {holiday:%b}, {calendar.holiday_reason}" in text




def test_on_a_practice_holiday_the_patient_gets_a_callback_not_a_live_person(run, at, tmp_path):
    holiday = seeded_closures().holiday  # a Monday: open by the week, every location closed
    at(datetime.combine(holiday, time(10, 0), TZ))

    async def scenario():
        ask = tracker({}, None, text="can I talk to a real person", intent="human_handoff", form=None)
        _, started_messages = await run_action(handoff.ActionHumanHandoff(), ask)
        form = tracker({}, None, form="handoff_form")
        required = await handoff.ValidateHandoffForm().required_slots([], CollectingDispatcher(), form, {})
        done = tracker({"handoff_reason": "asked", "callback_phone": "+13125550188",
                        "callback_time": "any time"}, None, form=None)
        finished, finished_messages = await run_action(handoff.ActionFinishHandoff(), done)
        stored = await practice_module.get_practice_system().handoff_queue()
        return started_messages, required, finished, finished_messages, stored

    started_messages, required, finished, finished_messages, stored = run(scenario)
    tuesday_8am = when_text(datetime.combine(holiday + timedelta(days=1), time(8, 0), TZ))
    started = started_messages[0]["text"]
    assert "closed right now" in started and f"We open again {tuesday_8am}" in started
    assert required == ["callback_phone", "callback_time"]
    assert "callback request is in" in finished_messages[0]["text"]
    assert tuesday_8am in finished_messages[0]["text"]
    assert not any(e.get("name") == "handoff_wait_form" for e in finished)  # nobody to wait for
    assert [h.kind for h in stored] == ["callback"]
    notices = (tmp_path / "outbox" / "slack.jsonl").read_text()
    assert "Callback requested" in notices and "waiting for a person" not in notices


def test_the_next_opening_skips_a_practice_holiday_but_not_one_closed_location(run, at):
    calendar = seeded_closures()
    saturday_afternoon = datetime.combine(calendar.holiday - timedelta(days=2), time(13, 0), TZ)
    only_northside_closed = datetime.combine(calendar.northside_closed_day, time(10, 0), TZ)

    async def replies_at(moment):
        at(moment)
        ask = tracker({}, None, text="talk to a person", intent="human_handoff", form=None)
        _, messages = await run_action(handoff.ActionHumanHandoff(), ask)
        return messages[0]["text"]

    async def scenario():
        return await replies_at(saturday_afternoon), await replies_at(only_northside_closed)

    after_saturday, northside_day = run(scenario)
    # Sunday is a day off and Monday the holiday: the team calls back on Tuesday.
    tuesday_8am = when_text(datetime.combine(calendar.holiday + timedelta(days=1), time(8, 0), TZ))
    assert f"We open again {tuesday_8am}" in after_saturday
    assert northside_day.startswith("Of course, I'll get a member of our team")


def test_an_emergency_while_waiting_is_answered_first_and_the_wait_goes_on(run, at, tmp_path):
    from actions.conversation import ActionEmergency
    from bot.safety import emergency_reply

    at(MONDAY_10AM)

    async def scenario():
        system = practice_module.get_practice_system()
        live = await system.create_handoff("test-conversation", "rest", "live", "asked")
        events, messages = await run_action(ActionEmergency(), tracker(
            {"handoff_reference": live.reference}, None, text="my chest hurts",
            intent="emergency", form="handoff_wait_form"))
        return live.reference, events, messages, await system.waiting_handoff("test-conversation")

    reference, events, messages, still_waiting = run(scenario)
    assert messages[0]["text"] == emergency_reply(None)  # unchanged
    assert len(messages) == 2 and reference in messages[1]["text"] and "still open" in messages[1]["text"]
    assert slot_events(events)["handoff_reference"] == reference
    assert [e["name"] for e in events if e["event"] == "followup"] == ["handoff_wait_form"]
    assert still_waiting.reference == reference
    notice = json.loads((tmp_path / "outbox" / "slack.jsonl").read_text().splitlines()[-1])["text"]
    assert notice.startswith("Emergency interrupt") and f"waiting for a person, {reference}" in notice


def test_an_emergency_with_a_callback_request_or_none_stays_just_the_emergency_reply(run, at, tmp_path):
    from actions.conversation import ActionEmergency

    at(TUESDAY_9PM)

    async def emergency_in(conversation):
        t = tracker({}, None, text="my chest hurts", intent="emergency", form=None)
        t.sender_id = conversation
        return await run_action(ActionEmergency(), t)

    async def scenario():
        system = practice_module.get_practice_system()
        callback = await system.create_handoff("with-callback", "rest", "callback", "asked",
                                               callback_phone="+13125550188")
        return callback.reference, await emergency_in("with-callback"), await emergency_in("no-handoff")

    reference, (callback_events, callback_messages), (plain_events, plain_messages) = run(scenario)
    for events, messages in ((callback_events, callback_messages), (plain_events, plain_messages)):
        assert len(messages) == 1 and "911" in messages[0]["text"]
        assert not any(e["event"] == "followup" for e in events)  # nobody to wait for here
    with_callback, no_handoff = [
        json.loads(line)["text"] for line in (tmp_path / "outbox" / "slack.jsonl").read_text().splitlines()]
    assert f"asked for a callback, {reference}" in with_callback
    assert "HO-" not in no_handoff


def test_a_new_session_while_waiting_for_a_person_starts_in_the_wait(run):
    from actions.common import load_content
    from actions.conversation import ActionSessionStart

    async def session_start():
        return await run_action(ActionSessionStart(), tracker({}, None, form=None))

    async def scenario():
        system = practice_module.get_practice_system()
        live = await system.create_handoff("test-conversation", "rest", "live", "asked")
        waiting = await session_start()
        await system.close_handoff(live.reference)
        return live.reference, waiting, await session_start()

    reference, (waiting, waiting_messages), (closed, closed_messages) = run(scenario)
    disclosure = " ".join(load_content("disclosure.yml")["text"].split())
    assert [m["text"] for m in waiting_messages] == [disclosure] == [m["text"] for m in closed_messages]
    assert waiting[0]["event"] == "session_started" and waiting[-1]["name"] == "action_listen"
    # The patient's next message reaches the wait form, which gives the holding reply.
    assert {"event": "active_loop", "name": "handoff_wait_form"} in [
        {"event": e["event"], "name": e.get("name")} for e in waiting]
    assert slot_events(waiting)["requested_slot"] == "handoff_resumed"
    assert slot_events(waiting)["handoff_reference"] == reference
    assert not any(e["event"] == "active_loop" for e in closed)


def test_the_emergency_reply_goes_out_even_when_the_practice_database_is_down(run, monkeypatch, caplog):
    from actions.conversation import ActionEmergency

    async def scenario():
        system = practice_module.get_practice_system()

        async def unreachable(conversation_id):
            raise ConnectionError("practice database unreachable")

        monkeypatch.setattr(system, "waiting_handoff", unreachable)
        return await run_action(ActionEmergency(), tracker(
            {}, None, text="my chest hurts", intent="emergency", form="handoff_wait_form"))

    _, messages = run(scenario)
    assert len(messages) == 1 and "911" in messages[0]["text"]
    assert "Could not check for a waiting handoff (ConnectionError)" in caplog.text


def test_after_resume_a_request_is_handed_on_with_its_channel_details_and_a_hello_gets_the_menu(run):
    metadata = {"sms_sender_token": "synthetic-token"}

    async def scenario():
        request = tracker({"handoff_resumed": True}, None, text="I need to book an appointment",
                          intent="book_appointment", form=None, channel="sms", metadata=metadata)
        hello = tracker({"handoff_resumed": True}, None, text="hello?", intent="greet", form=None)
        return (await run_action(handoff.ActionHandoffResumed(), request),
                await run_action(handoff.ActionHandoffResumed(), hello))

    (request_events, request_messages), (hello_events, hello_messages) = run(scenario)
    assert request_messages[0]["text"].endswith("you're back with the automated assistant.")
    assert not request_messages[0]["buttons"]
    listen, again = request_events[-2:]
    assert listen["event"] == "action" and listen["name"] == "action_listen"
    assert (again["event"], again["text"], again["input_channel"], again["metadata"]) == (
        "user", "I need to book an appointment", "sms", metadata)
    assert again["parse_data"]["intent"]["name"] == "book_appointment"
    assert "What can I help you with?" in hello_messages[0]["text"] and hello_messages[0]["buttons"]
    assert not any(e["event"] in ("user", "action") for e in hello_events)
    for events in (request_events, hello_events):
        assert slot_events(events)["handoff_reference"] is None


@pytest.mark.parametrize("text,spanish", [
    ("no puedo respirar", True), ("me duele mucho el pecho", True), ("mi bebe no respira", True),
    ("i cant breathe", False), ("my mama is not breathing", False),
])
def test_an_emergency_in_spanish_is_answered_in_spanish_then_english(run, at, text, spanish):
    # "no puedo respirar" was caught but answered only in English (session 13 black-box test).
    from actions.common import load_content
    from actions.conversation import ActionEmergency

    at(MONDAY_10AM)
    _, messages = run(lambda: run_action(ActionEmergency(), tracker(
        {}, None, text=text, intent="emergency", form=None)))
    reply = messages[0]["text"]
    english = load_content("emergency.yml")["replies"]["default"].split(".")[0]
    assert english in reply  # the English reply is always there
    assert reply.startswith("Esto puede ser una emergencia. Llame al 911 ahora") == spanish


def test_every_emergency_reply_has_a_spanish_version():
    from actions.common import load_content

    content = load_content("emergency.yml")
    assert set(content["replies_es"]) == set(content["replies"])
    assert all("{emergency_number}" in content["replies_es"][k] for k in content["replies_es"])


@pytest.mark.parametrize("text,intent,answers", [
    ("what are your hours and where do i park", "ask_hours", ["Our hours:", "Maple Street (main clinic)"]),
    ("where are you and do you take medicaid", "ask_parking", ["Maple Street (main clinic)", "We accept Medicare"]),
    ("do you take medicaid", "ask_insurance", ["We accept Medicare"]),
    ("is the clinic open to new patients", "ask_new_patient", ["Welcome!"]),
    ("what are your hours, do you take bcbs and where do i park", "ask_hours",
     ["Our hours:", "Maple Street (main clinic)", "We accept Medicare"]),
    ("whats your phone number", "ask_parking", ["You can call us on (555) 010-0100."]),
    ("whats ur address and phone number", "ask_parking", ["Maple Street (main clinic)", "You can call us"]),
])
def test_each_clinic_question_in_one_message_is_answered(run, at, text, intent, answers):
    # "what are your hours and where do I park" got the hours only.
    from actions.conversation import ActionClinicInfo

    at(MONDAY_10AM)
    _, messages = run(lambda: run_action(ActionClinicInfo(), tracker({}, None, text=text, intent=intent, form=None)))
    assert len(messages) == len(answers)
    for message, start in zip(messages, answers):
        assert message["text"].startswith(start), message["text"]
