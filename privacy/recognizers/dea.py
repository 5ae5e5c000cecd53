"""DEA registration numbers: 2 letters + 7 digits with the DEA check digit."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import ChatPatternRecognizer


def dea_checksum_ok(value: str) -> bool:
    value = value.strip().upper()
    if len(value) != 9 or not value[2:].isdigit():
        return False
    d = [int(c) for c in value[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


class DeaRecognizer(ChatPatternRecognizer):
    ENTITY = "DEA"
    PATTERNS = [Pattern("dea", r"(?<![\w-])[abcdefghjklmprstux][a-z9]\d{7}(?![\w])", 0.5)]
    CONTEXT = ["dea", "dea number", "dea #"]

    def validate_result(self, pattern_text: str) -> bool:
        return dea_checksum_ok(pattern_text)
