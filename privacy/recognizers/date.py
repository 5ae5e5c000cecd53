"""Dates of birth and other day-level dates. Bare years and relative dates ("next Tuesday") stay."""
from __future__ import annotations

from presidio_analyzer import Pattern

from privacy.recognizers.base import MONTH, NEEDS_CONTEXT, UNIT_AFTER, ChatPatternRecognizer

M = r"(?:0?[1-9]|1[0-2])"
D = r"(?:0?[1-9]|[12]\d|3[01])"
Y = r"(?:19\d\d|20\d\d|\d\d)"
YYYY = r"(?:19\d\d|20\d\d)"
DAY_ORD = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
NOT_AFTER = r"(?![\w/]|[.-]\d)"


class ChatDateRecognizer(ChatPatternRecognizer):
    ENTITY = "DATE_TIME"
    PATTERNS = [
        Pattern("m_d_y", rf"(?<![\w/.-]){M}([/.-]){D}\1{Y}{NOT_AFTER}", 0.85),
        Pattern("d_m_y", rf"(?<![\w/.-]){D}([/.-]){M}\1{Y}{NOT_AFTER}", 0.8),
        Pattern("iso", rf"(?<![\w/.-]){YYYY}([/.-]){M}\1{D}{NOT_AFTER}", 0.85),
        Pattern("month_day_year", rf"(?<![\w]){MONTH}\s{{0,2}}{DAY_ORD}(?:,?\s{{0,2}}(?:{YYYY}|'\d\d))?(?![\w:]|\s*{UNIT_AFTER}\b)", 0.75),
        Pattern("day_month_year", rf"(?<![\w]){DAY_ORD}\s{{0,2}}(?:of\s+)?{MONTH}(?![a-z])(?:,?\s{{0,2}}{YYYY})?", 0.75),
        Pattern("month_year", rf"(?<![\w]){MONTH}(?:\s+of)?,?\s+{YYYY}(?!\w)", 0.6),
        # "3/14", "born 03-14": day and month only; needs a date word (keeps "pain 7/10", "1/2 tab")
        Pattern("m_d", rf"(?<![\w/.-]){M}[/-]{D}(?![\w/]|[.-]\d|\s*{UNIT_AFTER}\b)", NEEDS_CONTEXT),
        Pattern("spaced_numeric", rf"(?<![\w/.-]){M}\s{D}\s{Y}(?!\w)", NEEDS_CONTEXT),
        Pattern("unseparated", rf"(?<![\w/.-])(?:{M.replace('0?', '0')}{D.replace('0?', '0')}(?:19|20)?\d\d|{YYYY}{M.replace('0?', '0')}{D.replace('0?', '0')})(?!\w)", NEEDS_CONTEXT),
    ]
    CONTEXT = [
        "dob", "d.o.b", "birth", "born", "birthday", "bday", "b-day", "birthdate", "date of birth",
        "on", "date", "since", "until", "till", "from", "appt", "appointment", "scheduled", "due",
        "last", "before", "after", "by", "visit", "admitted", "discharged", "surgery", "for", "to",
        "come in", "move", "moved", "reschedule", "book", "this", "next", "until", "thru", "through",
    ]
    CONTEXT_REQUIRED = frozenset({"m_d", "spaced_numeric", "unseparated"})
    CONTEXT_WINDOW = 25

    def accept(self, text: str, start: int, end: int) -> bool:
        value = text[start:end].strip().lower()
        # "may" / "march" as verbs ("I may 2x the dose") are rare; "mar" alone is not a month here
        if value.startswith("may") and text[max(0, start - 2) : start].strip().lower() in ("i", "we", "it"):
            return False
        return True
