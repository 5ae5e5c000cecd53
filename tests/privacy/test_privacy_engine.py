"""The redactor as the rest of the assistant uses it: tags, known values, what must survive,
and bounded behaviour on hostile input."""
import socket
import time

import pytest
PRACTICE_NAME = "Sunrise Family Clinic"  # as in conftest.py
PRACTICE_PHONE = "(512) 555-0100"

from privacy import engine
from privacy.engine import COUNTERS, RedactionResult


@pytest.mark.parametrize(
    "text, tag",
    [
        ("my name is Testy McFakeface", "<NAME>"),
        ("dob 03/14/1961", "<DATE>"),
        ("call 512-555-0143", "<PHONE>"),
        ("testy@example.com", "<EMAIL>"),
        ("ssn 912-45-6789", "<SSN>"),
        ("mrn 4471823", "<MRN>"),
        ("member id XYZ123456789", "<MEMBER_ID>"),
        ("account number 44718230", "<ACCOUNT>"),
        ("npi 1234567893", "<NPI>"),
        ("dea AB1234563", "<DEA>"),
        ("drivers license D1234567", "<LICENSE>"),
        ("i live at 123 main st", "<ADDRESS>"),
        ("zip 78701", "<ZIP>"),
        ("I'm 92", "<AGE>"),
        ("https://portal.example.com/u/testy", "<URL>"),
        ("from 192.0.2.44", "<IP>"),
        ("its 4471823", "<ID>"),
    ],
)
def test_each_type_gets_its_tag(redactor, text, tag):
    result = redactor.redact(text)
    assert isinstance(result, RedactionResult)
    assert tag in result.redacted
    assert result.entities and all(len(e) == 4 for e in result.entities)


@pytest.mark.parametrize(
    "text",
    [
        "lisinopril 10mg",
        "bp 142/74",
        "diagnosed in 2019",
        "I'm 45",
        "can i come in next Tuesday",
        "I have a headache and a cough",
        f"is {PRACTICE_NAME} open on saturday",
        f"i called {PRACTICE_PHONE} twice",
        "my pain is 7/10",
    ],
)
def test_clinical_meaning_survives(redactor, text):
    assert redactor.redact(text).redacted == text


@pytest.mark.parametrize("reference", ["RX-84P39", "HO-7K2P94", "APT-23456", "EM-9X877", "lo-42k96"])
def test_practice_reference_codes_survive(redactor, reference):
    """Digit-heavy codes look like bare identifiers; staff search transcripts for them."""
    text = f"I've asked our team to call you shortly (reference {reference})."
    assert redactor.redact(text).redacted == text


@pytest.mark.parametrize("text", ["its XK-45678", "mrn RX-45678-9", "my id is RX-4567890"])
def test_identifiers_shaped_unlike_a_practice_reference_are_still_removed(redactor, text):
    assert any(c.isdigit() for c in text) and "4567" not in redactor.redact(text).redacted


def test_a_reference_the_patient_gave_as_a_known_value_is_still_removed(redactor):
    assert "RX-45678" not in redactor.redact("it's RX-45678", {"mrn": "RX-45678"}).redacted


def test_entities_point_at_the_original_text(redactor):
    text = "hi im Testy McFakeface, call 512-555-0143"
    result = redactor.redact(text)
    spans = {text[e.start : e.end]: e.type for e in result.entities}
    assert spans == {"Testy McFakeface": "NAME", "512-555-0143": "PHONE"}


def test_known_values_removed_in_other_spellings(redactor):
    known = {"patient_name": "Zorblat Quizzenheimer", "dob": "03/14/1961", "phone": "(512) 555-0143", "mrn": "4471823"}
    text = "ZORBLAT said dob march 14th 1961, phone 512.555.0143, chart 44-71-823; quizzenheimer's file"
    out = redactor.redact(text, known).redacted
    for leaked in ("ZORBLAT", "march", "1961", "0143", "4471", "quizzenheimer"):
        assert leaked.lower() not in out.lower(), out


def test_known_values_as_plain_list(redactor):
    out = redactor.redact("the code word is flimflam77", ["flimflam77"]).redacted
    assert "flimflam" not in out


def test_redact_value_nested_and_bounded(redactor):
    value = {"slots": {"patient_name": "Testy McFakeface", "phones": ["512-555-0143", 7, None]}, "n": 3}
    out = redactor.redact_value(value)
    assert out["slots"]["patient_name"] == "<NAME>"
    assert out["slots"]["phones"] == ["<PHONE>", 7, None]
    assert out["n"] == 3
    deep = current = {}
    for _ in range(50):
        current["x"] = {}
        current = current["x"]
    current["x"] = "512-555-0143"
    assert "512-555-0143" not in str(redactor.redact_value(deep))


@pytest.mark.parametrize(
    "text",
    [
        "my name is Testy McFakeface " * 4000,  # ~100 kB
        "x" * 100_000,  # one huge word
        "\x00\xff\x01 binary \x7f" * 200,
        "😀🩺💊 call 512-555-0143 😷" * 50,
        "اسمي تستي، رقمي 512-555-0143 שלום",
    ],
)
def test_hostile_input_finishes_in_bounded_time(redactor, text):
    start = time.perf_counter()
    result = redactor.redact(text)
    assert time.perf_counter() - start < 15
    assert "512-555-0143" not in result.redacted


def test_bytes_are_decoded_not_rejected(redactor):
    assert redactor.redact(b"call 512-555-0143 \xff").redacted.startswith("call <PHONE>")


def test_safe_redact_fails_closed_on_error(monkeypatch, redactor):
    monkeypatch.setattr(engine, "get_redactor", lambda: redactor)

    def boom(*a, **k):
        raise RuntimeError("redactor broke")

    monkeypatch.setattr(redactor, "redact", boom)
    before = COUNTERS.failed
    assert engine.safe_redact("call 512-555-0143") is None
    assert COUNTERS.failed == before + 1


def test_safe_redact_fails_closed_on_timeout(monkeypatch, redactor):
    monkeypatch.setattr(engine, "get_redactor", lambda: redactor)
    monkeypatch.setattr(redactor, "redact", lambda *a, **k: time.sleep(0.5))
    before = COUNTERS.timed_out
    assert engine.safe_redact("call 512-555-0143", timeout_s=0.05) is None
    assert COUNTERS.timed_out == before + 1


def test_too_large_input_is_refused_by_safe_redact(monkeypatch, redactor):
    import dataclasses

    monkeypatch.setattr(engine, "get_redactor", lambda: redactor)
    monkeypatch.setattr(redactor, "settings", dataclasses.replace(redactor.settings, max_chars=100))
    with pytest.raises(engine.InputTooLarge):
        redactor.redact("a" * 101)
    assert engine.safe_redact("a" * 101) is None


def test_no_network_when_building_and_using_the_engine(monkeypatch):
    """tldextract and friends must not reach out: block sockets, build a fresh engine, use it,
    and also exercise the stock email recognizer that calls tldextract."""

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    redactor = engine.Redactor()
    assert "<EMAIL>" in redactor.redact("testy@example.com").redacted
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    assert EmailRecognizer().validate_result("testy@example.co.uk") is True


def test_spacy_model_is_configurable(monkeypatch):
    from privacy.nlp import ModelMissing
    from privacy.settings import load_settings

    settings = load_settings(env={"PRIVACY_SPACY_MODEL": "no_such_model_xyz"})
    assert settings.spacy_model == "no_such_model_xyz"
    with pytest.raises(ModelMissing, match="pip install"):
        engine.Redactor(settings)


def test_mrn_formats_from_config_file(tmp_path):
    from privacy.settings import load_settings

    conf = tmp_path / "privacy.yml"
    conf.write_text("mrn_patterns_always: ['(?<![\\w])QQ\\d{5}(?![\\w])']\npractice_name: Testville Clinic\n")
    settings = load_settings(env={"PRIVACY_CONFIG": str(conf)}, clinic_file=tmp_path / "absent.yml")
    assert settings.practice_name == "Testville Clinic"
    red = engine.Redactor(settings)
    assert red.redact("ref QQ12345").redacted == "ref <MRN>"


def test_a_phone_number_across_the_analysis_cut_is_still_found(redactor):
    # Found in review: long texts are analysed in 2,000-character pieces, and a number cut in
    # two by a piece's end was found in neither.
    for pad in range(1955, 1995, 7):
        text = ("the cat sat " * 300)[:pad] + " call me at 512 555 0143 please ok"
        out = redactor.redact(text).redacted
        assert "555 0143" not in out and "<PHONE>" in out, pad
