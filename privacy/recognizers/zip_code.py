"""ZIP codes: after a state, after "zip", ZIP+4, or a bare 5-digit answer."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import NEEDS_CONTEXT, US_STATE_NAMES, US_STATES, ChatPatternRecognizer, words_re

STATE = words_re(US_STATES + US_STATE_NAMES)


class ZipCodeRecognizer(ChatPatternRecognizer):
    ENTITY = "ZIP_CODE"
    PATTERNS = [
        Pattern("zip_plus_4", r"(?<![\w-])\d{5}-\d{4}(?![\w]|-\d)", 0.7),
        Pattern("after_state", rf"(?<=\b{STATE},?\s{{1,3}})\d{{5}}(?:-\d{{4}})?(?!\w)", 0.75),
        Pattern("after_context", r"(?<![\w-])\d{3,6}(?:-\d{4})?(?![\w]|-\d)", NEEDS_CONTEXT),
        # the whole message is a 5-digit answer ("its 78701")
        Pattern("bare_answer", r"(?<=^\W*(?:(?:it'?s|it\s+is|its|my|zip|code|is|ok|yes|sure)[\s:,]+){0,3})\d{5}(?=[\s.!]*$)", 0.5),
    ]
    CONTEXT = ["zip", "zipcode", "zip code", "postal", "postal code", "live in", "area code"]
    CONTEXT_REQUIRED = frozenset({"after_context"})
    CONTEXT_WINDOW = 25
