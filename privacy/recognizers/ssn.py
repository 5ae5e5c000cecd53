"""US Social Security numbers: 123-45-6789, 123 45 6789, and bare 9 or last-4 digits after "ssn"."""
from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern

from privacy.recognizers.base import NEEDS_CONTEXT, ChatPatternRecognizer


class SsnRecognizer(ChatPatternRecognizer):
    ENTITY = "US_SSN"
    PATTERNS = [
        Pattern("separated", r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w]|-\d)", 0.75),
        Pattern("unseparated", r"(?<!\w)\d{9}(?!\w)", NEEDS_CONTEXT),
        Pattern("last_four", r"(?<![\w-])(?:x{3}-?x{2}-?)?\d{4}(?!\w)", NEEDS_CONTEXT),
    ]
    CONTEXT = ["ssn", "social", "social security", "ss#", "ss #", "soc sec"]
    CONTEXT_REQUIRED = frozenset({"unseparated", "last_four"})
    CONTEXT_WINDOW = 30

    def invalidate_result(self, pattern_text: str) -> bool:
        d = re.sub(r"\D", "", pattern_text)
        if len(d) != 9:
            return False
        # Never issued: area 000 or 666, group 00, serial 0000. (9xx areas are kept: redacting is safe.)
        return d[:3] in ("000", "666") or d[3:5] == "00" or d[5:] == "0000" or len(set(d)) == 1
