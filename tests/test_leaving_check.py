"""Leaving a form has to be said (bot/leaving_check.py): names and new times the classifier
reads as "no", "bye" or "stop" are answers."""

from __future__ import annotations

import pytest

from bot.eval_nlu import TEST_SET, load_examples, load_training
from bot.leaving_check import LEAVING_WORDS, checked_intent


@pytest.mark.parametrize("text,intent", [
    ("nolan testwood", "deny"), ("Dana Notreal", "deny"), ("Nobody Atall", "deny"),
    ("Helen Byers", "goodbye"), ("my name is Helen Byers", "goodbye"),
    ("Byron Quitman", "stop_form"), ("Noelle Stopford", "stop_form"), ("Ken Cancellara", "stop_form"),
    ("actually can i do thursday instead", "stop_form"),
])
def test_a_name_or_a_time_read_as_leaving_is_a_bare_answer(text, intent):
    assert checked_intent(text, intent) == "inform"


@pytest.mark.parametrize("intent", sorted(LEAVING_WORDS))
def test_every_way_of_leaving_in_the_data_still_leaves(intent):
    sentences = [t for examples in load_training().values() for t, i in examples if i == intent]
    sentences += [t for t, i in load_examples(TEST_SET) if i == intent]
    assert len(sentences) > 60
    assert [t for t in sentences if checked_intent(t, intent) != intent] == []


@pytest.mark.parametrize("text,intent", [("nolan testwood", "greet"), ("no", "affirm"), ("nope", None)])
def test_other_intents_are_left_alone(text, intent):
    assert checked_intent(text, intent) == intent


@pytest.mark.parametrize("text,intent", [
    ("the one with dr hopperfake", "book_appointment"), ("the one on monday", "reschedule_appointment"),
    ("that one with dr lovetest", "cancel_appointment"), ("the flu shot one", "book_appointment"),
])
def test_pointing_at_one_of_a_list_is_an_answer_not_a_new_task(text, intent):
    # "the one with dr hopperfake" at "Which appointment would you like to move?" was read as
    # booking: "Sure, let's do that instead." and the visit-type question (session 16).
    assert checked_intent(text, intent) == "inform"


@pytest.mark.parametrize("intent", ["book_appointment", "reschedule_appointment", "cancel_appointment"])
def test_every_way_of_asking_for_a_task_in_the_data_still_asks(intent):
    sentences = [t for examples in load_training().values() for t, i in examples if i == intent]
    sentences += [t for t, i in load_examples(TEST_SET) if i == intent]
    assert len(sentences) > 20
    assert [t for t in sentences if checked_intent(t, intent) != intent] == []
