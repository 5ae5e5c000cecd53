"""A "no" has to say no (bot/deny_check.py): names the classifier reads as `deny` are answers."""

from __future__ import annotations

import pytest

from bot.deny_check import checked_intent
from bot.eval_nlu import TEST_SET, load_examples, load_training


@pytest.mark.parametrize("name", ["nolan testwood", "Dana Notreal", "Nobody Atall", "Nova Sampleton"])
def test_a_name_read_as_no_is_a_bare_answer(name):
    assert checked_intent(name, "deny") == "inform"


def test_every_way_of_saying_no_in_the_data_stays_a_no():
    sentences = [t for examples in load_training().values() for t, i in examples if i == "deny"]
    sentences += [t for t, i in load_examples(TEST_SET) if i == "deny"]
    assert len(sentences) > 60
    kept = [t for t in sentences if checked_intent(t, "deny") != "deny"]
    assert kept == []


@pytest.mark.parametrize("text,intent", [("nolan testwood", "greet"), ("no", "affirm"), ("nope", None)])
def test_other_intents_are_left_alone(text, intent):
    assert checked_intent(text, intent) == intent
