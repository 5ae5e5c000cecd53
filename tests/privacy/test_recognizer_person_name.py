import pytest
from privacy_test_helpers import found

from privacy.recognizers.person_name import PersonNameRecognizer

REC = PersonNameRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("my name is testy mcfakeface", ["testy mcfakeface"]),
        ("MY NAME IS JOHN SMITH", ["JOHN SMITH"]),
        ("john smith", ["john smith"]),
        ("smith, john", ["smith, john"]),
        ("this is maria garcia, i need a refill", ["maria garcia"]),
        ("its xalak", ["xalak"]),
        ("my son jake has a fever", ["jake"]),
        ("refill for mary jones", ["mary jones"]),
        ("hi pratyush here", ["pratyush"]),
        ("this is matthew m. nichols", ["matthew m. nichols"]),
        ("can dr okonkwo see me", ["okonkwo"]),
        ("my name is Will", ["Will"]),
    ],
)
def test_finds_names_spacy_misses(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "i need a refill of lisinopril 10mg",
        "this is bad",
        "will do thanks",
        "i may need more",
        "my son has a fever",
        "cancel my appointment",
        "I'm 45",
        "hope to see you next tuesday",
        "policy 123 with aetna",
        "chest pain since monday",
    ],
)
def test_leaves_everyday_words(text):
    assert found(REC, text) == []
