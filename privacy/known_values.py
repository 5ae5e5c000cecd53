"""Conversation-aware redaction: what the patient told the bot is removed wherever it reappears.

known_values may be a mapping of slot name -> value ({"patient_name": "Testy McFakeface",
"dob": "03/14/1961"}), an iterable of (tag, value) pairs, or plain strings (kind guessed from the
value). Matching is normalised: case, spacing and punctuation for text; digits only for phones
and ids; other spellings of the same date for a DOB.
"""
from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import List, Mapping, Optional, Tuple

import regex as re
from spacy.lang.en.stop_words import STOP_WORDS

# Longer values are left to the recognizers: matching a huge value (a pasted 10 kB message)
# against every log line costs O(line x value) with the GIL held, and stalled the server.
MAX_KNOWN_VALUE_CHARS = 300
# A whole message the patient sent is still removed when longer (the widget takes 2,000
# characters), but as a literal: a plain string search is linear, unlike the flexible regex.
MAX_MESSAGE_VALUE_CHARS = 5_000
SLOT_HINTS = [
    ("EMAIL", ("email", "e_mail")),
    ("DATE", ("dob", "birth", "bday", "date")),
    ("PHONE", ("phone", "mobile", "cell", "tel")),
    ("MRN", ("mrn", "chart", "record")),
    ("MEMBER_ID", ("member", "policy", "insurance", "subscriber", "group")),
    ("SSN", ("ssn", "social")),
    ("ADDRESS", ("address", "street")),
    ("ZIP", ("zip", "postal")),
    ("ACCOUNT", ("account", "acct")),
    ("NAME", ("name", "first", "last", "patient", "surname")),
]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
DATE_FORMATS = ["%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d", "%m-%d-%Y", "%m-%d-%y", "%m.%d.%Y", "%d %B %Y",
                "%B %d %Y", "%B %d, %Y", "%b %d %Y", "%b %d, %Y", "%d %b %Y", "%m%d%Y", "%Y%m%d", "%Y/%m/%d"]


def _normalise_pairs(known_values) -> Tuple[Tuple[str, str], ...]:
    if not known_values:
        return ()
    pairs: List[Tuple[Optional[str], str]] = []
    if isinstance(known_values, Mapping):
        items = known_values.items()
    elif isinstance(known_values, (str, bytes)):
        items = [(None, known_values)]
    else:
        items = [(kv if isinstance(kv, tuple) and len(kv) == 2 else (None, kv)) for kv in known_values]
    for hint, value in items:
        if value is None or isinstance(value, (dict, list, tuple, set)):
            continue  # nested slot values are redacted by redact_value, not matched here
        value = str(value).strip()
        kind = _kind(hint, value) if len(value) >= 2 else None
        limit = MAX_MESSAGE_VALUE_CHARS if kind == "MESSAGE" else MAX_KNOWN_VALUE_CHARS
        if kind is None or len(value) > limit:
            continue  # too long to match cheaply on every line; the recognizers still run
        pairs.append((kind, value))
    return tuple(sorted(set(pairs)))


def _kind(hint: Optional[str], value: str) -> str:
    if hint:
        h = hint.lower()
        if h == "user_text":
            # A whole message the patient sent: removed where it is echoed verbatim, never
            # word by word (its words are mostly not PHI; the recognizers judge those).
            return "MESSAGE"
        if h.upper() in {k for k, _ in SLOT_HINTS} | {"ID"}:
            return h.upper()
        for kind, words in SLOT_HINTS:
            if any(w in h for w in words):
                return kind
    if "@" in value:
        return "EMAIL"
    if parse_date(value):
        return "DATE"
    digits = re.sub(r"\D", "", value)
    if len(digits) in (10, 11) and len(digits) >= len(value.replace(" ", "")) - 5:
        return "PHONE"
    if len(digits) >= 4:
        return "ID"
    return "NAME"


def parse_date(value: str) -> Optional[dt.date]:
    v = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", value.strip(), flags=re.I).replace(",", ", ").replace("  ", " ")
    v = re.sub(r"\s+", " ", v)
    for fmt in DATE_FORMATS:
        try:
            d = dt.datetime.strptime(v, fmt).date()
        except ValueError:
            continue
        if 1900 <= d.year <= 2100:
            return d
    return None


def _flex_text(value: str) -> Optional[str]:
    tokens = re.findall(r"[^\W_]+", value)
    if not tokens:
        return None
    return r"(?<![^\W_])" + r"[\W_]{0,3}".join(re.escape(t) for t in tokens) + r"(?![^\W_])"


def _flex_digits(digits: str) -> str:
    return r"(?<!\d)" + r"[\s().+/-]{0,3}".join(digits) + r"(?!\d)"


def _date_variants(d: dt.date) -> str:
    m, day, y = d.month, d.day, d.year
    mm = rf"0?{m}"
    dd = rf"0?{day}"
    yy = rf"(?:{y}|{y % 100:02d})"
    sep = r"\s?[/.\- ]\s?"
    month = MONTHS[m - 1]
    month_re = rf"(?:{month}|{month[:3]}\.?|{month[:4]}\.?)"
    day_re = rf"{day}(?:st|nd|rd|th)?"
    alts = [
        rf"{mm}{sep}{dd}(?:{sep}{yy})?",
        rf"{dd}{sep}{mm}{sep}{yy}",
        rf"{y}{sep}{mm}{sep}{dd}",
        rf"{month_re}\s*{day_re}(?:,?\s*{yy})?",
        rf"{day_re}\s*(?:of\s+)?{month_re}(?:,?\s*{yy})?",
        rf"{m:02d}{day:02d}{yy}",
        rf"{y}{m:02d}{day:02d}",
    ]
    return r"(?<![\w/.-])(?:" + "|".join(alts) + r")(?![\w]|[/.-]\d)"


@lru_cache(maxsize=512)
def compile_known(pairs: Tuple[Tuple[str, str], ...]) -> Tuple[Tuple[re.Pattern, str], ...]:
    compiled = []
    for kind, value in pairs:
        if kind == "MESSAGE" and len(value) > MAX_KNOWN_VALUE_CHARS:
            # As typed, and as a log line quotes it (repr or JSON escapes newlines and quotes).
            forms = dict.fromkeys((value, repr(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]))
            compiled.extend((re.compile(re.escape(form)), kind) for form in forms)
            continue
        regexes = []
        digits = re.sub(r"\D", "", value)
        if kind == "DATE" and parse_date(value):
            regexes.append(_date_variants(parse_date(value)))
        if kind in ("PHONE", "MRN", "MEMBER_ID", "SSN", "ACCOUNT", "ID", "ZIP") and len(digits) >= 4:
            regexes.append(_flex_digits(digits))
            if kind == "PHONE" and len(digits) == 11 and digits[0] == "1":
                regexes.append(_flex_digits(digits[1:]))
            if kind == "PHONE" and len(digits) >= 10:
                regexes.append(_flex_digits(digits[-7:]))  # local form "555-0143"
        flex = _flex_text(value)
        if flex:
            regexes.append(flex)
        if kind == "NAME":
            for part in re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", value):
                if len(part) >= 2 and part.lower() not in STOP_WORDS:
                    regexes.append(rf"(?<![^\W_]){re.escape(part)}(?:['’]s)?(?![^\W_])")
        for rx in regexes:
            compiled.append((re.compile(rx, re.I), kind))
    return tuple(compiled)


def find_known(text: str, known_values) -> List[Tuple[str, int, int]]:
    spans = []
    for pattern, kind in compile_known(_normalise_pairs(known_values)):
        for m in pattern.finditer(text):
            if m.end() > m.start():
                spans.append((kind, m.start(), m.end()))
    return spans
