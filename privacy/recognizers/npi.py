"""National Provider Identifier: 10 digits starting 1 or 2, Luhn check over the 80840 prefix."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import ChatPatternRecognizer


def npi_checksum_ok(number: str) -> bool:
    digits = [int(c) for c in "80840" + number if c.isdigit()]
    if len(digits) != 15:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return total % 10 == 0


class NpiRecognizer(ChatPatternRecognizer):
    ENTITY = "NPI"
    PATTERNS = [Pattern("npi", r"(?<![\w-])[12]\d{9}(?![\w]|-\d)", 0.5)]
    CONTEXT = ["npi", "provider number", "national provider"]

    def validate_result(self, pattern_text: str) -> bool:
        return npi_checksum_ok(pattern_text)
