"""Unlabelled identifiers: the bare answer "its 4471823" after the bot asked for an id.

In patient chat a run of 6+ digits, or letters+digits like "XJH4471823", is almost always an
identifier (MRN, member id, confirmation number). Tagged <ID>: context-specific recognizers
(MRN, member id, account) outscore this one and give the precise tag when a cue word is present.
"""
from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern

from privacy.recognizers.base import UNIT_AFTER, ChatPatternRecognizer


class BareIdentifierRecognizer(ChatPatternRecognizer):
    ENTITY = "ID"
    PATTERNS = [
        Pattern("digits", r"(?<![\w.,/-])\d(?:[\d-]{4,22})\d(?![\w]|[.,/]\d)", 0.45),
        Pattern("alphanumeric", r"(?<![\w.,/-])(?=[a-z-]{0,24}\d)(?=\d{0,24}[a-z])[a-z0-9][a-z0-9-]{4,22}[a-z0-9](?![\w]|[.,/]\d)", 0.45),
    ]
    _unit_suffix = re.compile(rf"^\d+(?:\.\d+)?-?{UNIT_AFTER}$|^\d+(?:st|nd|rd|th|am|pm|s)$|^covid-?19$|^[a-z]+-?\d{{1,2}}$", re.I)

    def accept(self, text: str, start: int, end: int) -> bool:
        value = text[start:end]
        digits = sum(c.isdigit() for c in value)
        if self._unit_suffix.match(value):
            return False
        if value.replace("-", "").isdigit():
            return digits >= 6
        return digits >= 4
