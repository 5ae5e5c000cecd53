"""An intent that acts has to be said (bot/intent_words.py): names and new times the
classifier reads as "no", "bye", "stop", a greeting, a booking or a refill are answers, and a
question about AI is not an opt-out."""

from __future__ import annotations

import pytest

from bot.eval_nlu import TEST_SET, load_examples, load_training
from bot.intent_words import INTENT_WORDS, checked_intent


@pytest.mark.parametrize("text,intent", [
    ("nolan testwood", "deny"), ("Dana Notreal", "deny"), ("Nobody Atall", "deny"),
    ("Helen Byers", "goodbye"), ("my name is Helen Byers", "goodbye"),
    ("Byron Quitman", "stop_form"), ("Noelle Stopford", "stop_form"), ("Ken Cancellara", "stop_form"),
    ("actually can i do thursday instead", "stop_form"),
    # Black-box transcripts: answers to "When would suit you?" in the reschedule form and to
    # the name question, read as another task.
    ("is next thursday ok?", "book_appointment"), ("how about next tuesday?", "book_appointment"),
    ("next thursday morning", "book_appointment"), ("Synthia Generata", "request_refill"),
    ("Synthia Generata 12/12/1998", "request_refill"), ("Synthia Generata", "book_appointment"),
    ("would monday at 10 work", "book_appointment"), ("the 14th is better for me", "book_appointment"),
    ("Pilar Medina", "request_refill"), ("Rex Pharaoh", "request_refill"),
    ("sunday", "greet"), ("Sunday", "greet"), ("sunday afternoon", "greet"), ("hilary testwood", "greet"),
    # A retrain read a numbered choice as asking for a person, and a time as moving.
    ("3 pls", "human_handoff"), ("the 2nd one", "human_handoff"), ("Hugh Mann", "human_handoff"),
    ("sometime next week pls", "reschedule_appointment"), ("Moe Vesey", "reschedule_appointment"),
])
def test_a_name_or_a_time_read_as_acting_is_a_bare_answer(text, intent):
    assert checked_intent(text, intent) == "inform"


@pytest.mark.parametrize("text", [
    "can the AI diagnose me", "does the ai decide my treatment", "is an ai reading my messages",
    "Can the A.I. diagnose me?", "will a computer pick my medicine",
    "can i opt out of the ai", "how do i opt out of ai?", "is it possible to not use the ai scribe",
])
def test_a_question_about_ai_read_as_opting_out_is_a_question(text):
    assert checked_intent(text, "ai_opt_out") == "ask_ai_use"


def test_an_opt_out_read_into_a_name_is_a_bare_answer():
    assert checked_intent("Aiden Testwood", "ai_opt_out") == "inform"


@pytest.mark.parametrize("text,intent", [
    ("i'm out of my ramipril", "request_refill"), ("need my crestor", "request_refill"),
    ("my toprol xl please", "request_refill"), ("can i get more propranolol", "request_refill"),
    ("valsartan 80", "request_refill"), ("need more esomeprazole", "request_refill"),
    ("can i come in thursday", "book_appointment"), ("do you have anything free monday", "book_appointment"),
    ("i need a flu shot", "book_appointment"), ("any availability next week?", "book_appointment"),
    ("i need an appoinment", "book_appointment"), ("can i get a tetanus jab", "book_appointment"),
    ("when can a docter see me", "book_appointment"), ("can i pop in tomorrow", "book_appointment"),
    ("can i get more of my blood pressure stuff", "request_refill"), ("out of my thyroid", "request_refill"),
    ("i'd rather not have ai", "ai_opt_out"), ("no ai thanks", "ai_opt_out"),
    ("hi", "greet"), ("help", "greet"), ("menu please", "greet"),
])
def test_the_intents_own_words_keep_it(text, intent):
    assert checked_intent(text, intent) == intent


@pytest.mark.parametrize("intent", sorted(INTENT_WORDS))
def test_every_way_of_saying_it_in_the_data_keeps_its_intent(intent):
    sentences = [t for examples in load_training().values() for t, i in examples if i == intent]
    sentences += [t for t, i in load_examples(TEST_SET) if i == intent]
    assert len(sentences) > 60
    assert [t for t in sentences if checked_intent(t, intent) != intent] == []


@pytest.mark.parametrize("text,intent", [("nolan testwood", "inform"), ("no", "affirm"), ("nope", None),
                                         ("sunday", "ask_hours"), ("Synthia Generata", "cancel_appointment")])
def test_other_intents_are_left_alone(text, intent):
    assert checked_intent(text, intent) == intent


@pytest.mark.parametrize("text,intent", [
    ("the one with dr hopperfake", "book_appointment"), ("the one on monday", "reschedule_appointment"),
    ("that one with dr lovetest", "cancel_appointment"), ("the flu shot one", "book_appointment"),
])
def test_pointing_at_one_of_a_list_is_an_answer_not_a_new_task(text, intent):
    # "the one with dr hopperfake" at "Which appointment would you like to move?" was read as
    # booking: "Sure, let's do that instead." and the visit-type question (session 15).
    assert checked_intent(text, intent) == "inform"


@pytest.mark.parametrize("intent", ["book_appointment", "reschedule_appointment", "cancel_appointment"])
def test_every_way_of_asking_for_a_task_in_the_data_still_asks(intent):
    sentences = [t for examples in load_training().values() for t, i in examples if i == intent]
    sentences += [t for t, i in load_examples(TEST_SET) if i == intent]
    assert len(sentences) > 20
    assert [t for t in sentences if checked_intent(t, intent) != intent] == []
