"""Ages over 89 (HIPAA Safe Harbor). Ages 0-89 are kept: they carry clinical meaning."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import UNIT_AFTER, ChatPatternRecognizer

OVER_89 = r"(?:9\d|1[01]\d|12[0-5])"
SPELLED = r"(?:ninety(?:[\s-]?(?:one|two|three|four|five|six|seven|eight|nine))?|(?:a|one)\s+hundred(?:\s+(?:and\s+)?\w+)?)"


class AgeRecognizer(ChatPatternRecognizer):
    ENTITY = "AGE"
    PATTERNS = [
        Pattern("years_old", rf"(?<![\w.,/-]){OVER_89}(?=\s*-?\s*(?:years?|yrs?|y/?o|y\.o\.|yo)(?!\w))", 0.85),
        Pattern("spelled_years_old", rf"(?<![\w]){SPELLED}(?=\s*-?\s*(?:years?|yrs?|y/?o|yo)(?!\w))", 0.85),
        Pattern("after_age_word", rf"(?<=\b(?:age|aged|ages|age\s+is|age:)\s{{0,3}}:?\s{{0,2}}){OVER_89}(?![\w.,/%])", 0.85),
        Pattern(
            "after_i_am",
            rf"(?<=\b(?:i'?m|i\s+am|she'?s|he'?s|she\s+is|he\s+is|turning|turned|turns|is\s+now|mom\s+is|dad\s+is)\s{{1,3}}(?:now\s+|just\s+|almost\s+)?){OVER_89}(?![\w.,/%]|\s*{UNIT_AFTER}\b)",
            0.7,
        ),
    ]
    CONTEXT = ["age", "aged", "years old", "yo", "birthday", "turning"]
