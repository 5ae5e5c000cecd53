"""Street addresses as typed in chat: "123 main st apt 4b austin tx 78701", "PO Box 4471".

A regex rather than usaddress: chat lines rarely parse as postal lines (no commas, lowercase,
trailing words), and the pattern is ~100x faster. The number and a street suffix anchor it.
"""
from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern

from privacy.recognizers.base import US_STATE_NAMES, US_STATES, ChatPatternRecognizer, words_re

SUFFIX = words_re(
    "street st avenue ave av road rd boulevard blvd drive dr lane ln way court ct circle cir place pl "
    "parkway pkwy highway hwy terrace ter trail trl plaza plz pike turnpike tpke expressway expy "
    "freeway fwy crossing xing cove cv alley aly square sq loop".split()
)
DIRECTION = r"(?:n|s|e|w|ne|nw|se|sw|north|south|east|west)\.?"
UNIT = r"(?:apt|apartment|unit|ste|suite|#|no\.?|bldg|building|fl|floor|rm|room|lot|spc|space)\.?\s*#?\s*[a-z0-9-]{1,6}"
STATE = words_re(US_STATES + US_STATE_NAMES)
CITY_STATE_ZIP = rf"(?:,?\s+(?:[a-z][\w'.-]*\s+){{0,2}}[a-z][\w'.-]*,?\s+{STATE}(?:,?\s+\d{{5}}(?:-\d{{4}})?)?(?!\w))"
STREET_WORD = r"(?:\d{1,3}(?:st|nd|rd|th)|[a-z][\w'.-]*)"

# Words that show a "number ... suffix" run is a dose or a count, not a street.
NOT_STREET_WORDS = {
    "my", "your", "the", "a", "an", "on", "in", "at", "to", "for", "of", "and", "or", "with", "every",
    "per", "each", "times", "tabs", "tablets", "pills", "mg", "days", "weeks", "hours", "is", "was",
    "are", "i", "it", "me", "by", "from", "this", "that", "all", "way", "more", "less", "than",
}


class StreetAddressRecognizer(ChatPatternRecognizer):
    ENTITY = "STREET_ADDRESS"
    PATTERNS = [
        Pattern(
            "street_line",
            rf"(?<![\w/.-])\d{{1,6}}[a-z]?(?:-\d{{1,4}})?\s+(?:{DIRECTION}\s+)?(?:{STREET_WORD}\s+){{0,3}}{STREET_WORD}\s+{SUFFIX}\.?(?![\w])"
            rf"(?:\s+{DIRECTION}(?![\w]))?(?:,?\s+{UNIT})?{CITY_STATE_ZIP}?",
            0.8,
        ),
        Pattern("po_box", r"(?<![\w])p\.?\s?o\.?\s*box\s+#?\d{1,6}(?!\w)", 0.85),
        # "Apt. 762", "Suite 960" on their own (a later line of an address)
        Pattern("unit_only", r"(?<![\w])(?:apt|apartment|unit|ste|suite|bldg|lot)\.?\s*#?\s*(?=[a-z-]{0,3}\d)[a-z0-9-]{1,6}(?![\w])", 0.5),
    ]
    CONTEXT = ["address", "live at", "live on", "lives at", "street", "mail to", "ship to", "apt"]

    _word = re.compile(r"[a-z']+", re.I)

    def accept(self, text: str, start: int, end: int) -> bool:
        value = text[start:end]
        if not value[0].isdigit():
            return True
        head = re.split(SUFFIX, value, maxsplit=1, flags=re.I)[0]
        words = [w.lower() for w in self._word.findall(head)]
        return bool(words) and not any(w in NOT_STREET_WORDS for w in words)
