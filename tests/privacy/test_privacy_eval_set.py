"""The evaluation set is what the figures rest on: splits apart, spans exact, seed fixed."""
from privacy.eval.generator import TEST_TEMPLATES, TUNE_TEMPLATES, generate, load_templates

PRACTICE = {"PRACTICE": "Sunrise Family Clinic", "PRACTICE_PHONE": "(512) 555-0100"}


def test_tune_and_test_templates_share_nothing():
    tune, test = load_templates(TUNE_TEMPLATES), load_templates(TEST_TEMPLATES)
    assert not set(tune["phi"] + tune["clean"]) & set(test["phi"] + test["clean"])


def test_spans_point_at_values_and_generation_is_reproducible():
    a = generate(TEST_TEMPLATES, 200, 7, PRACTICE)
    b = generate(TEST_TEMPLATES, 200, 7, PRACTICE)
    assert [m.text for m in a] == [m.text for m in b]
    kinds = set()
    for m in a:
        for kind, s, e in m.spans:
            kinds.add(kind)
            assert m.text[s:e].strip() == m.text[s:e] and m.text[s:e]
    assert {"NAME", "DOB", "PHONE", "EMAIL", "SSN", "MRN", "MEMBER_ID", "ADDRESS"} <= kinds
    assert any(not m.spans for m in a)  # PHI-free hard negatives are in the set
