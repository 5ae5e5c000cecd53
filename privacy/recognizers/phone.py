"""US phone numbers as patients type them: 5125550143, 512.555.0143, +1 (512) 555-0143 x12, 555-0143."""
from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern

from privacy.recognizers.base import NEEDS_CONTEXT, ChatPatternRecognizer

EXTENSION = r"(?:\s*(?:x|ext\.?|extension|ex\.?)\s*\d{1,6})?"


def digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


class ChatPhoneRecognizer(ChatPatternRecognizer):
    ENTITY = "PHONE_NUMBER"
    PATTERNS = [
        Pattern(
            "us_10_digit",
            r"(?<![\w+]|\d[\s.-])(?:\+?\s?1[\s.-]{0,2})?(?:\(\s*[2-9]\d{2}\s*\)|[2-9]\d{2})[\s.-]{0,2}\d{3}[\s.-]{0,2}\d{4}"
            + EXTENSION + r"(?!\w|[.-]\d)",
            0.7,
        ),
        Pattern("local_7_digit", r"(?<![\w.-])[2-9]\d{2}[.-]\d{4}(?![\w]|[.-]\d)", 0.5),
        # international / unusual grouping: "+41 (0)96 471 07 95" always; "0496 46 46 70" after "phone"
        Pattern("plus_country_code", r"(?<![\w+])\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){2,4}(?!\w|[.-]\d)", 0.6),
        Pattern("grouped_after_context", r"(?<![\w+])\(?\d{2,4}\)?(?:[\s.-]\d{2,4}){2,4}(?!\w|[.-]\d)", NEEDS_CONTEXT),
        Pattern("spaced_7_digit", r"(?<![\w.-])[2-9]\d{2}\s\d{4}(?![\w]|[.-]\d)", NEEDS_CONTEXT),
    ]
    CONTEXT = ["phone", "cell", "call", "text", "number", "mobile", "reach", "contact", "tel", "ph", "callback",
               "call back", "fax", "desk", "office", "landline", "home", "work", "whatsapp", "sms"]
    CONTEXT_REQUIRED = frozenset({"spaced_7_digit", "grouped_after_context"})
    CONTEXT_WINDOW = 30

    def __init__(self, practice_phone: str | None = None):
        super().__init__()
        self._practice_digits = digits(practice_phone)[-10:] if practice_phone else ""

    def accept(self, text: str, start: int, end: int) -> bool:
        # The practice's own number is not PHI and patients need to see it in transcripts.
        value = re.sub(r"\s*(?:x|ext\.?|extension|ex\.?)\s*\d{1,6}$", "", text[start:end], flags=re.I)
        found = digits(value)
        if self._practice_digits and len(found) >= 7 and self._practice_digits.endswith(found[-10:]):
            return False
        return True
