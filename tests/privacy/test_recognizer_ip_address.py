import pytest
from privacy_test_helpers import found

from privacy.recognizers.ip_address import IpAddressRecognizer

REC = IpAddressRecognizer()


@pytest.mark.parametrize(
    "text, expected",
    [("from 192.0.2.44", ["192.0.2.44"]), ("2001:db8::1f", ["2001:db8::1f"]), ("ip 198.51.100.7!", ["198.51.100.7"])],
)
def test_finds_ips(text, expected):
    assert found(REC, text) == expected


@pytest.mark.parametrize("text", ["999.1.1.1", "temp 101.4", "at 10:30", "version 1.2.3"])
def test_leaves_look_alikes(text):
    assert found(REC, text) == []
