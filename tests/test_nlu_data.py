"""Fast checks of the NLU training data and the held-out test set (no model needed).

A held-out evaluation is only worth something if the test sentences are not in training,
every contract intent is covered on both sides, and no sentence teaches two intents.
"""

from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from bot.eval_nlu import INTENTS, TEST_SET, TRAINING_DIR, load_examples, load_training, normalise, scores

REPO_ROOT = Path(__file__).resolve().parent.parent

# Which area file owns which intents: a reader looking for "stop" knows where to go.
AREA_FILES = {
    "core.yml": {"greet", "goodbye", "affirm", "deny", "inform", "stop_form", "none_of_these"},
    "booking.yml": {"book_appointment", "reschedule_appointment", "cancel_appointment", "list_appointments"},
    "refills.yml": {"request_refill", "refill_status"},
    "trust.yml": {"ask_ai_use", "ai_opt_out", "ask_what_you_know", "forget_me", "human_handoff"},
    "clinic_info.yml": {"ask_hours", "ask_parking", "ask_insurance", "ask_new_patient", "ask_visit_prep"},
    "staff.yml": {"staff_faq"},
    "emergency.yml": {"emergency"},
}
MIN_TRAINING_PER_INTENT = 40
MIN_TEST_PER_INTENT = 15


@pytest.fixture(scope="module")
def training():
    return [ex for examples in load_training().values() for ex in examples]


@pytest.fixture(scope="module")
def test_set():
    return load_examples(TEST_SET)


def test_area_files_hold_exactly_their_intents():
    by_file = {path.name: {intent for _, intent in examples} for path, examples in load_training().items()}
    assert by_file == AREA_FILES


def test_training_covers_exactly_the_contract_intents(training):
    counts = Counter(intent for _, intent in training)
    assert set(counts) == set(INTENTS)
    thin = {i: n for i, n in counts.items() if n < MIN_TRAINING_PER_INTENT}
    assert not thin, f"intents with fewer than {MIN_TRAINING_PER_INTENT} training examples: {thin}"


def test_test_set_covers_exactly_the_contract_intents(test_set):
    counts = Counter(intent for _, intent in test_set)
    assert set(counts) == set(INTENTS)
    thin = {i: n for i, n in counts.items() if n < MIN_TEST_PER_INTENT}
    assert not thin, f"intents with fewer than {MIN_TEST_PER_INTENT} test examples: {thin}"


def test_domain_declares_the_contract_intents():
    from bot.channel_roles import PATIENT_SELF_SERVICE, STAFF_COMMAND

    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text())
    # Plus the two the staff channel's component sets, which the classifier never predicts.
    assert set(domain["intents"]) == set(INTENTS) | {STAFF_COMMAND, PATIENT_SELF_SERVICE}


def test_no_test_sentence_appears_in_training(training, test_set):
    seen = {normalise(text): (text, intent) for text, intent in training}
    leaked = [(t, seen[normalise(t)]) for t, _ in test_set if normalise(t) in seen]
    assert not leaked, f"held-out sentences (or case/punctuation variants) found in training: {leaked}"


@pytest.mark.parametrize("which", ["training", "test_set"])
def test_no_sentence_is_listed_twice(which, request):
    # Covers both conflicts (same sentence, two intents: rasa data validate fails) and
    # plain repeats that only add weight.
    where = defaultdict(list)
    for text, intent in request.getfixturevalue(which):
        where[normalise(text)].append((text, intent))
    repeated = {k: v for k, v in where.items() if len(v) > 1}
    assert not repeated, f"repeated in {which}: {repeated}"


def test_training_has_no_entity_annotations(training):
    # Forms take whole text; annotated entities would need an extractor the pipeline lacks.
    annotated = [t for t, _ in training if "](" in t or "]{" in t]
    assert not annotated


def test_scores_macro_f1_counts_fallback_as_a_miss():
    gold = ["greet", "greet", "deny", "deny"]
    predicted = ["greet", "nlu_fallback", "deny", "greet"]
    rows, macro = scores(gold, predicted)
    by_intent = {r[0]: r for r in rows}
    assert by_intent["greet"][1:4] == pytest.approx((0.5, 0.5, 0.5))
    assert by_intent["deny"][1:4] == pytest.approx((1.0, 0.5, 2 / 3))
    assert macro == pytest.approx((0.5 + 2 / 3) / 2)


def test_normalise_treats_case_and_punctuation_variants_as_the_same():
    assert normalise("Hi, there!") == normalise("hi there")
    assert normalise("cancel my appointment") != normalise("cancel that")
