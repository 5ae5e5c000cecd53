import pytest
from privacy_test_helpers import found

from privacy.recognizers.account import AccountRecognizer

REC = AccountRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("account number 44718230", ["44718230"]),
        ("acct ACCT-447182", ["ACCT-447182"]),
        ("billing 4471-8230", ["4471-8230"]),
        ("card 4111 1111 1111 1111", ["4111 1111 1111 1111"]),
    ],
)
def test_finds_accounts(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["44718230", "my account is locked", "billing question about 2019"])
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
