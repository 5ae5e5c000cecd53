import pytest
from privacy_test_helpers import found

from privacy.recognizers.mrn import MrnRecognizer

REC = MrnRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mrn 4471823", ["4471823"]),
        ("MRN: A4471823", ["A4471823"]),
        ("MRN4471823", ["4471823"]),
        ("my medical record number is 00447182", ["00447182"]),
        ("chart # 44-718-23", ["44-718-23"]),
        ("patient id is MR4471823", ["MR4471823"]),
    ],
)
def test_finds_mrn(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize(
    "text",
    ["4471823", "record my bp 142/74", "chart says lisinopril 10mg", "phone 5125550143"],
)
def test_leaves_look_alikes(text):
    assert found(REC, text) == []


def test_cue_belongs_to_nearest_value():
    # the phone after an MRN is not an MRN
    assert found(REC, "mrn 4471823 and phone 5125550143") == ["4471823"]


def test_practice_format_from_settings():
    rec = MrnRecognizer(extra_patterns=[r"(?<![\w])TST-\d{4}(?![\w])"], always_patterns=[r"(?<![\w])ZZ\d{6}(?![\w])"])
    assert found(rec, "chart TST-0042") == ["TST-0042"]
    assert found(rec, "TST-0042") == []
    assert found(rec, "see ZZ123456") == ["ZZ123456"]
