"""AI-use explanations (actions/ai_use.py, bot/content/ai_use.yml).

DEV_QUESTIONS is the list the routing rules were tuned on. The held-out set that
`python -m actions.ai_use_eval` scores (tests/ai_use_questions.yml) was written before the
rules and is only scored, never tuned on, here or there.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from actions import ai_use
from actions.ai_use import (
    HANDOFF_PAYLOAD, TOOL_FIELDS, AiAnswer, all_answers, answer_ai_question, answer_for,
    classify, parse_topic_payload, topic_payload,
)
from actions.ai_use_eval import MAX_GRADE, MAX_WORDS, QUESTION_SET, fk_grade, load_question_set, word_count

CONTENT = Path(__file__).resolve().parent.parent / "bot" / "content" / "ai_use.yml"

# (question, topic, tool): the tuning list, worded apart from tests/ai_use_questions.yml.
DEV_QUESTIONS = [
    ("are you a robot?", "robot", None),
    ("is this a real human", "robot", None),
    ("r u human or bot", "robot", None),
    ("am i speaking with a computer", "robot", None),
    ("are you an ai", "robot", None),
    ("are you a chatbot", "robot", None),
    ("is AI deciding my diagnosis?", "decisions", None),
    ("does the computer pick my treatment", "decisions", None),
    ("who decides whats wrong with me, a person or ai", "decisions", None),
    ("does a real doctor check the ai", "decisions", None),
    ("does the doctor just follow what the ai says", "decisions", None),
    ("who sees what I type?", "privacy", None),
    ("who can read my messages", "privacy", None),
    ("is my chat confidental", "privacy", None),
    ("do you pass my info to other companies", "privacy", None),
    ("what data do you use about me", "privacy", None),
    ("are my messages used to train it?", "training", None),
    ("do you train your ai on patient data", "training", None),
    ("does the bot learn from what i say", "training", None),
    ("are my chats used to make the ai better", "training", None),
    ("is it biased against people like me?", "bias", None),
    ("is the ai fair to women", "bias", None),
    ("does it work for people with accents", "bias", None),
    ("is it prejudiced", "bias", None),
    ("how accurate is it?", "accuracy", None),
    ("how reliable is this", "accuracy", None),
    ("does the ai ever get things wrong", "accuracy", None),
    ("was it validated", "accuracy", None),
    ("can I opt out?", "opt_out", None),
    ("can i say no to ai", "opt_out", None),
    ("i'd rather not have ai, is that ok", "opt_out", None),
    ("do i get a choice about ai", "opt_out", None),
    ("how long do you keep my chats", "retention", None),
    ("is my info saved", "retention", None),
    ("do you delete what i write", "retention", None),
    ("what AI tools do you use?", "tools", None),
    ("how does the clinic use ai", "tools", None),
    ("which ai do you have", "tools", None),
    ("tell me about the eye screening", "tool", "eye_screening"),
    ("what's the scribe?", "tool", "scribe"),
    ("what is the no-show model", "tool", "no_show"),
    ("what does the retina ai do", "tool", "eye_screening"),
    ("is there ai listening in on my appointment", "tool", "scribe"),
    ("who looks at the eye photos", "privacy", "eye_screening"),
    ("can i opt out of the eye scan", "opt_out", "eye_screening"),
    ("is the scribe accurate", "accuracy", "scribe"),
    ("is the no show thing fair", "bias", "no_show"),
    ("how long is the scribe recording kept", "retention", "scribe"),
    ("does the chatbot store my messages", "retention", "assistant"),
    ("does the doctor check the retinopathy results", "decisions", "eye_screening"),
    # Added in round 2, one or two per missing class of wording (see the eval's docstring).
    ("who is this, a bot?", "robot", None),
    ("you're only a program right", "robot", None),
    ("does the ai work out what illness i have", "decisions", None),
    ("could the computer stop my prescription", "decisions", None),
    ("are my records sent to an outside company", "privacy", None),
    ("does this chat stay between me and my doctor", "privacy", None),
    ("is patient info put into an ai model", "training", None),
    ("does it disadvantage people on low incomes", "bias", None),
    ("i'm deaf, does the scribe work ok for me", "bias", "scribe"),
    ("what percent of the time is it right", "accuracy", None),
    ("has it been audited", "accuracy", None),
    ("is ai mandatory", "opt_out", None),
    ("i'd prefer a real doctor, not a machine", "opt_out", None),
    ("after we finish, is everything i typed wiped", "retention", None),
    ("what happens to my messages afterwards", "retention", None),
    ("what do you do with the audio recording", "retention", "scribe"),
    ("i got a text reminder, was that an ai", "tool", "no_show"),
    ("what ai systems are there", "tools", None),
    ("what if the ai is wrong about me", "accuracy", None),
    # Round 3.
    ("what's the hit rate of the eye screening", "accuracy", "eye_screening"),
    ("is there evidence it works properly", "accuracy", None),
    ("i'd like to stay out of the ai", "opt_out", None),
    ("am i forced to use ai", "opt_out", None),
    ("opt my husband out of the scribe please", "opt_out", "scribe"),
    ("does it favour younger patients", "bias", None),
    ("is this service run by a computer", "robot", None),
    ("does the clinic share data with insurers", "privacy", None),
    ("is the tech company allowed to see my chats", "privacy", None),
    ("give me an overview of the ai", "tools", None),
    ("can the ai order blood tests", "decisions", None),
    # No rule fires; the nearest example in the content file decides, or nothing does.
    ("can i avoid ai completely", "opt_out", None),
    ("how well does the ai perform", "accuracy", None),
    ("what can you do", "general", None),
    ("i have a question", "general", None),
    ("tell me about ai", "tools", None),  # the meaning fallback: the list of tools
    ("hmm", "general", None),
]


@pytest.mark.parametrize("question,topic,tool", DEV_QUESTIONS)
def test_routing_dev_questions(question, topic, tool):
    assert classify(question) == (topic, tool)


@pytest.mark.parametrize("question", ["ARE YOU A ROBOT", "are you a robt", "Are. You. A. Robot?!"])
def test_routing_ignores_case_punctuation_and_typos(question):
    assert classify(question) == ("robot", None)


def test_answer_is_the_answer_to_that_question_with_offers_to_say_more():
    answer = answer_ai_question("can i opt out of the scribe")
    assert answer.topic == "opt_out" and answer.tool == "scribe"
    assert "say no" in answer.text.lower()
    assert answer.follow_up[-1] == ("Talk to a person", HANDOFF_PAYLOAD)
    assert all(payload.startswith("/") for _, payload in answer.follow_up)


def test_follow_up_payload_round_trips_to_that_answer():
    first = answer_ai_question("who sees what i type")
    title, payload = next(b for b in first.follow_up if b[1] != HANDOFF_PAYLOAD)
    second = answer_ai_question(payload)
    assert (second.topic, second.tool) == parse_topic_payload(payload)
    assert second.topic != "general" and second.text != first.text


def test_tools_answer_lists_the_four_tools_with_a_button_each():
    answer = answer_ai_question("what ai tools do you use")
    assert answer.topic == "tools"
    assert answer.text.count("\n• ") == 4
    tool_buttons = [p for _, p in answer.follow_up if p != HANDOFF_PAYLOAD]
    assert {parse_topic_payload(p)[1] for p in tool_buttons} == {"assistant", "eye_screening", "no_show", "scribe"}


def test_placeholders_are_filled(monkeypatch):
    monkeypatch.setenv("ARCHIVE_RETENTION_DAYS", "45")
    text = answer_for("retention").text
    assert "45 days" in text and "{" not in text
    assert "(555) 010-0100" in answer_for("opt_out").text


def test_unknown_payload_topic_is_treated_as_text():
    assert parse_topic_payload('/ask_ai_use{"ai_topic":"weather"}') is None
    assert parse_topic_payload("/ask_ai_use{not json}") is None
    assert parse_topic_payload(topic_payload("bias", "scribe")) == ("bias", "scribe")


@pytest.mark.parametrize("answer", all_answers(CONTENT), ids=lambda a: f"{a.topic}-{a.tool}")
def test_every_answer_is_short_and_plain(answer: AiAnswer):
    assert word_count(answer.text) <= MAX_WORDS
    assert fk_grade(answer.text) <= MAX_GRADE


def test_content_file_describes_four_tools_with_every_field():
    data = yaml.safe_load(CONTENT.read_text(encoding="utf-8"))
    assert set(data["tools"]) == {"assistant", "eye_screening", "no_show", "scribe"}
    for key, tool in data["tools"].items():
        missing = [f for f in TOOL_FIELDS if not str(tool.get(f) or "").strip()]
        assert not missing, f"{key} lacks {missing}"
        assert tool.get("aliases"), f"{key} needs aliases so patients can name it"


def test_made_up_figures_are_labelled_as_demo_examples():
    data = yaml.safe_load(CONTENT.read_text(encoding="utf-8"))
    for key in ("eye_screening", "no_show", "scribe"):
        assert data["tools"][key]["validation"].startswith("Demo example figures")


def test_editing_the_content_file_changes_the_answer_without_restart(tmp_path, monkeypatch):
    copy = tmp_path / "ai_use.yml"
    shutil.copy(CONTENT, copy)
    before = answer_ai_question("can i opt out", path=copy)
    assert "Dr. Example" not in before.text

    data = yaml.safe_load(copy.read_text(encoding="utf-8"))
    data["questions"]["opt_out"]["answer"] = "Yes. Ask Dr. Example at your next visit."
    copy.write_text(yaml.safe_dump(data), encoding="utf-8")
    bump = time.time() + 5  # a new mtime even on coarse-grained file systems
    os.utime(copy, (bump, bump))
    assert answer_ai_question("can i opt out", path=copy).text == "Yes. Ask Dr. Example at your next visit."

    # The same through the environment variable the action server can be started with.
    monkeypatch.setenv("AI_USE_FILE", str(copy))
    assert "Dr. Example" in answer_ai_question("can i opt out").text


def test_a_practice_can_add_an_alias(tmp_path):
    copy = tmp_path / "ai_use.yml"
    shutil.copy(CONTENT, copy)
    assert classify("what is the tele-reminder", ai_use.load_ai_use(copy)) == ("general", None)
    data = yaml.safe_load(copy.read_text(encoding="utf-8"))
    data["tools"]["no_show"]["aliases"].append("tele reminder")
    copy.write_text(yaml.safe_dump(data), encoding="utf-8")
    bump = time.time() + 5
    os.utime(copy, (bump, bump))
    assert classify("what is the tele-reminder", ai_use.load_ai_use(copy)) == ("tool", "no_show")


def test_a_practice_can_add_an_example_phrasing(tmp_path):
    copy = tmp_path / "ai_use.yml"
    shutil.copy(CONTENT, copy)
    question = "is the software above board with my stuff"
    assert classify(question, ai_use.load_ai_use(copy)) == ("general", None)
    data = yaml.safe_load(copy.read_text(encoding="utf-8"))
    data["questions"]["privacy"]["examples"].append("is the software above board with my details")
    copy.write_text(yaml.safe_dump(data), encoding="utf-8")
    bump = time.time() + 5
    os.utime(copy, (bump, bump))
    assert classify(question, ai_use.load_ai_use(copy)) == ("privacy", None)


def test_question_set_is_big_enough_and_labelled_with_known_topics():
    items = load_question_set(QUESTION_SET)
    assert len(items) >= 60
    assert {topic for _, topic, _ in items} == set(ai_use.TOPICS)


def test_answering_an_ai_question_does_not_hold_up_other_conversations(monkeypatch):
    # The sentence model is CPU work; run on the event loop it stalled every other patient
    # (measured by a reviewer: 0.06 s -> 1.7 s for "what are your hours" sent meanwhile).
    import asyncio

    from rasa_sdk.executor import CollectingDispatcher

    from actions.conversation import ActionAiUse
    from tests.action_helpers import tracker

    def slow_answer(text, path=None):
        time.sleep(0.4)  # as a cold sentence model would
        return ai_use.AiAnswer(topic="robot", text="No, I'm not a person.")

    monkeypatch.setattr(ai_use, "answer_ai_question", slow_answer)

    async def scenario():
        ticks = []

        async def other_conversations():
            for _ in range(30):
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        dispatcher = CollectingDispatcher()
        t = tracker({}, None, text="are you a robot", intent="ask_ai_use", form=None)

        async def this_patient():
            await asyncio.sleep(0.05)  # while the other conversations are under way
            await ActionAiUse().run(dispatcher, t, {})

        await asyncio.gather(this_patient(), other_conversations())
        return dispatcher.messages, ticks

    messages, ticks = asyncio.run(scenario())
    assert messages[0]["text"] == "No, I'm not a person."
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.2, max(gaps)


@pytest.mark.parametrize("question, topic, tool", [
    ("are you chatgpt", "robot", None),
    ("do you use chatgpt", "tools", None),
    ("is my doctor using chatgpt to write my notes", "tool", "scribe"),
])
def test_chatgpt_is_a_kind_of_ai_not_always_a_question_about_talking_to_a_robot(question, topic, tool):
    # Any mention of "gpt" used to get "No, I'm not a person", which answers none of these but the first.
    answer = answer_ai_question(question)
    assert (answer.topic, answer.tool) == (topic, tool)


def test_forget_me_says_what_was_deleted_and_what_was_not(run, monkeypatch, tmp_path):
    # "Done. I've cleared what this conversation held" left patients unsure whether their
    # appointments or medical record went too (session 15 black-box test).
    from rasa_sdk.executor import CollectingDispatcher

    from actions.conversation import ActionAiUse
    from tests.action_helpers import DOMAIN, tracker

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    t = tracker({"verified_patient_id": 1}, None, text="delete my data", intent="forget_me", form=None)

    async def scenario():
        dispatcher = CollectingDispatcher()
        events = await ActionAiUse().run(dispatcher, t, DOMAIN)
        return events, [m["text"] for m in dispatcher.messages]

    events, messages = run(scenario)
    assert messages == ["Done. I've deleted this conversation: what you told me here and its transcript in our "
                        "records. Your medical record, and any appointment or request you made, are not changed; "
                        "for those, call us on (555) 010-0100."]
    assert [e["event"] for e in events] == ["reset_slots"]
